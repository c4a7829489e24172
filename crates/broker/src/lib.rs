//! `courier-broker`: Courier's RocketMQ-compatible broker.
//!
//! State lives in one module per table (topics, subscription groups, consumer offsets, consumer
//! and producer connections, parked pulls); `processor/` holds one small module per request code
//! and `server` wires them to the remoting server and the message store.

mod blocking;
pub mod broker_totals;
pub mod client_channel;
pub mod config;
pub mod consumer_manager;
pub mod consumer_offset;
pub mod context;
pub mod error;
pub mod filter;
pub mod json_compat;
pub mod live_config;
pub mod long_poll;
pub mod persist;
pub mod processor;
pub mod producer_manager;
pub mod rates;
pub mod rebalance_lock;
pub mod recall;
pub mod registration;
pub mod schedule;
pub mod server;
pub mod subscription_group;
mod supervise;
pub mod time_span;
pub mod topic_config;
pub mod transaction;

pub use config::BrokerConfig;
pub use error::BrokerError;
pub use server::{run, run_on};
