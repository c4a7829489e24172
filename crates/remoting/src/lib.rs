//! `courier-remoting`: the RocketMQ TCP remoting protocol, and nothing about
//! brokers, name servers or storage.
//!
//! Layers, bottom up: `frame` (length-prefixed frames ↔ `RemotingCommand`),
//! `command` (the command and its JSON / ROCKETMQ binary headers), `code`
//! (request/response codes), `header` (typed extFields), `body` (JSON bodies,
//! fastjson-tolerant), `message_batch` (SEND_BATCH_MESSAGE bodies), and the
//! async runtime pieces: `processor` (dispatch), `connection`, `server`, `client`. With the
//! `testkit` feature, `testkit` has proptest strategies for arbitrary requests.

pub mod body;
pub mod client;
pub mod code;
pub mod command;
pub mod connection;
pub mod frame;
pub mod header;
pub mod message_batch;
pub mod processor;
pub mod server;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use client::{ClientConfig, RemotingClient};
pub use command::{ExtFields, LanguageCode, RemotingCommand, SerializeType};
pub use connection::{ConnectionConfig, ConnectionHandle, RemotingError};
pub use frame::{FrameError, RemotingCodec, DEFAULT_MAX_FRAME_LENGTH};
pub use header::{CommandHeader, HeaderError};
pub use processor::{Dispatcher, ProcessError, ProcessFuture, ProcessResult, Processor};
pub use server::{serve, serve_with, ServerConfig};
