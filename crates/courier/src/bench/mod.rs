//! `courier bench`: measurements of Courier components on the local machine. Each bench target is
//! one module; `report` holds the progress/table/JSON helpers they share.

pub mod disk;
pub mod keeper;
pub mod mq;
pub mod report;
pub mod store;
pub mod writer;

use crate::cli::{BenchArgs, BenchTarget};

/// Runs the selected bench target.
pub fn run(args: BenchArgs, runtime: &tokio::runtime::Runtime) -> anyhow::Result<()> {
    match args.target {
        BenchTarget::Store(a) => store::run(a, runtime),
        BenchTarget::StoreWriter(a) => writer::run(a, runtime),
        BenchTarget::Produce(a) => mq::run(mq::MqBench::Produce, a, runtime),
        BenchTarget::Consume(a) => mq::run(mq::MqBench::Consume, a, runtime),
        BenchTarget::E2e(a) => mq::run(mq::MqBench::E2e, a, runtime),
        BenchTarget::Keeper(a) => keeper::run(a, runtime),
    }
}
