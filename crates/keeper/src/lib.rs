//! Courier's keeper: a ZooKeeper-compatible coordination service (standalone).
//!
//! Write path: a request is validated against the current state by `prep` into a
//! deterministic [`txn::Txn`], applied in memory by the sequencer under the state write lock,
//! and proposed — one group-commit batch per Raft entry — through openraft (module [`raft`]: a
//! single-member group in standalone mode; its log store fdatasyncs before a write commits and
//! its state machine runs the pure [`state::StateMachine::apply`] on replay). Replies and watch
//! events go out after commit, in zxid order. Reads are answered from the state under a read
//! lock. See `docs/keeper.md` for the data model, the on-disk formats and the session and watch
//! semantics.
//!
//! Entry points: [`run`] (serve a listener until a cancellation token fires) and
//! [`KeeperHandle::start`] (background server on 127.0.0.1:0).

pub mod acl;
pub mod config;
mod conn;
mod crc_frame;
pub mod error;
mod four_letter;
mod latency;
pub mod path;
pub mod prep;
pub mod raft;
mod read;
pub mod sequencer;
mod server;
pub mod session;
pub mod shared;
pub mod snapshot;
pub mod state;
pub mod tree;
pub mod txn;
pub mod wal;
pub mod watches;

pub use config::KeeperConfig;
pub use error::KeeperError;
pub use server::{run, Keeper, KeeperHandle};
pub use tokio_util::sync::CancellationToken;
