//! Courier's keeper: a ZooKeeper-compatible coordination service (standalone).
//!
//! Write path: a request is validated against the current state by `prep` into a
//! deterministic [`txn::Txn`], appended to the [`wal::TxnLog`], synced with group commit and
//! applied by [`state::StateMachine::apply`] (a pure function of state and txn, ready to be
//! openraft's state machine). Reads are answered from the state under a read lock. See
//! `docs/keeper.md` for the data model, the WAL format and the session and watch semantics.
//!
//! Entry points: [`run`] (serve a listener until a cancellation token fires) and
//! [`KeeperHandle::start`] (background server on 127.0.0.1:0).

pub mod acl;
pub mod config;
mod conn;
pub mod error;
mod four_letter;
pub mod path;
pub mod prep;
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
