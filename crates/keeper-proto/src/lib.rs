//! ZooKeeper client wire protocol for Courier's keeper: jute primitives, every request and
//! response record, the handshake, framing, opcodes, error codes and data-model constants.
//!
//! This crate knows nothing about servers or state. Every decoder is bounds-checked against the
//! remaining input and a configurable limit (ZooKeeper's `jute.maxbuffer`), so malformed or
//! hostile bytes produce a [`JuteError`], never a panic or a large allocation.

pub mod connect;
pub mod error_code;
pub mod frame;
pub mod jute;
pub mod multi;
pub mod opcode;
pub mod records;
pub mod request;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod types;

pub use connect::{ConnectRequest, ConnectResponse};
pub use error_code::ErrorCode;
pub use frame::{frame, reply_frame, FrameCodec};
pub use jute::{JuteError, Reader, Record, DEFAULT_MAX_BUFFER};
pub use multi::{MultiOp, MultiRequest, MultiResponse, OpResult};
pub use opcode::{xid, OpCode};
pub use records::*;
pub use request::Request;
pub use types::*;

/// Decodes a post-handshake request frame payload: RequestHeader, then the body for its opcode.
/// `limit` bounds every buffer, string and vector inside.
pub fn decode_request(
    payload: bytes::Bytes,
    limit: usize,
) -> Result<(RequestHeader, Request), JuteError> {
    let mut r = Reader::new(payload, limit);
    let header = RequestHeader::read(&mut r)?;
    let req = Request::decode(OpCode::from_code(header.op), &mut r)?;
    Ok((header, req))
}
