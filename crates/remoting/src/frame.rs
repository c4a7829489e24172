//! `RemotingCodec`: the remoting frame (fact sheet §1.1) as a tokio-util
//! `Decoder`/`Encoder` of whole `RemotingCommand`s.
//!
//! Frame: i32 `length` (bytes after itself) | u8 serialize type + u24 header
//! length | header | body. Invariants kept by the decoder:
//! - a frame longer than `max_frame_length` is rejected as soon as its length
//!   word is read, before any of it is buffered;
//! - it never reserves memory from an untrusted length; the buffer only grows
//!   with bytes actually received;
//! - a partial frame returns `Ok(None)` and waits; a stream that ends inside a
//!   frame is an error (`decode_eof`);
//! - any error is fatal for the connection (the stream cannot be resynchronised).

use std::io;

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::command::{write_binary_header, write_json_header, RemotingCommand, SerializeType};

/// Java's default `com.rocketmq.remoting.frameMaxLength`: 16 MiB.
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 16 * 1024 * 1024;

/// Why a frame could not be read or written. Every variant is fatal for the
/// connection it came from.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame length {length} exceeds the limit of {max} bytes; the peer must send smaller requests (or raise the frame limit)")]
    FrameTooLong { length: u64, max: usize },
    #[error("frame length {0} is too small to hold the 4-byte header-length word")]
    FrameTooShort(i64),
    #[error(
        "bad header length: header of {header_len} bytes does not fit a frame of {frame_len} bytes"
    )]
    HeaderTooLong { header_len: usize, frame_len: usize },
    #[error("unknown serialize type {0} (expected 0 = JSON or 1 = ROCKETMQ)")]
    UnknownSerializeType(u8),
    #[error("invalid JSON header: {0}")]
    InvalidJsonHeader(String),
    #[error("invalid ROCKETMQ binary header: {0}")]
    InvalidBinaryHeader(String),
    #[error("stream ended inside a frame ({0} bytes of an incomplete frame were received)")]
    Truncated(usize),
    #[error("cannot encode command: {0}")]
    Unencodable(String),
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Encodes and decodes remoting frames.
#[derive(Debug, Clone)]
pub struct RemotingCodec {
    max_frame_length: usize,
}

impl Default for RemotingCodec {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_FRAME_LENGTH)
    }
}

impl RemotingCodec {
    /// A codec rejecting frames whose `length` field exceeds `max_frame_length`.
    pub fn new(max_frame_length: usize) -> Self {
        RemotingCodec { max_frame_length }
    }

    pub fn max_frame_length(&self) -> usize {
        self.max_frame_length
    }

    /// Encodes one command into a complete frame.
    pub fn encode_to_vec(&self, cmd: &RemotingCommand) -> Result<Vec<u8>, FrameError> {
        let mut buf = BytesMut::new();
        self.encode_command(cmd, &mut buf)?;
        Ok(buf.to_vec())
    }

    fn encode_command(&self, cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<(), FrameError> {
        dst.reserve(8 + 256 + cmd.body_bytes().len());
        self.encode_head(cmd, dst)?;
        dst.put_slice(cmd.body_bytes());
        Ok(())
    }

    /// Encodes everything of the frame but the body (whose length the length word includes);
    /// the caller sends `cmd.body` right after, e.g. from its own buffer with a vectored write.
    pub fn encode_head(&self, cmd: &RemotingCommand, dst: &mut BytesMut) -> Result<(), FrameError> {
        let start = dst.len();
        let body = cmd.body_bytes();
        // The header is written in place after an 8-byte placeholder for the two length words,
        // which are filled in once its size is known: no intermediate header buffer.
        dst.reserve(8 + 256);
        dst.put_u64(0);
        match cmd.serialize_type {
            SerializeType::Json => write_json_header(cmd, dst),
            SerializeType::RocketMq => {
                write_binary_header(cmd, dst).inspect_err(|_| dst.truncate(start))?
            }
        }
        let header_len = dst.len() - start - 8;
        if header_len > 0x00FF_FFFF {
            dst.truncate(start);
            return Err(FrameError::Unencodable(format!(
                "header of {header_len} bytes exceeds the 24-bit header length"
            )));
        }
        let length = 4 + header_len + body.len();
        if length > self.max_frame_length || length > i32::MAX as usize {
            dst.truncate(start);
            return Err(FrameError::FrameTooLong {
                length: length as u64,
                max: self.max_frame_length,
            });
        }
        dst[start..start + 4].copy_from_slice(&(length as i32).to_be_bytes());
        let word = ((cmd.serialize_type.code() as u32) << 24) | header_len as u32;
        dst[start + 4..start + 8].copy_from_slice(&word.to_be_bytes());
        Ok(())
    }
}

impl Decoder for RemotingCodec {
    type Item = RemotingCommand;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<RemotingCommand>, FrameError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let raw_len = i32::from_be_bytes([src[0], src[1], src[2], src[3]]);
        if raw_len < 4 {
            return Err(FrameError::FrameTooShort(raw_len as i64));
        }
        let frame_len = raw_len as usize;
        if frame_len > self.max_frame_length {
            return Err(FrameError::FrameTooLong {
                length: frame_len as u64,
                max: self.max_frame_length,
            });
        }
        // The header-length word can be validated before the rest arrives.
        if src.len() >= 8 {
            let word = u32::from_be_bytes([src[4], src[5], src[6], src[7]]);
            let type_byte = (word >> 24) as u8;
            if SerializeType::from_code(type_byte).is_none() {
                return Err(FrameError::UnknownSerializeType(type_byte));
            }
            let header_len = (word & 0x00FF_FFFF) as usize;
            if header_len > frame_len - 4 {
                return Err(FrameError::HeaderTooLong {
                    header_len,
                    frame_len,
                });
            }
        }
        if src.len() < 4 + frame_len {
            return Ok(None);
        }
        src.advance(4);
        let mut frame = src.split_to(frame_len);
        let word = frame.get_u32();
        let serialize_type = SerializeType::from_code((word >> 24) as u8)
            .ok_or(FrameError::UnknownSerializeType((word >> 24) as u8))?;
        let header_len = (word & 0x00FF_FFFF) as usize;
        let header = frame.split_to(header_len);
        let mut cmd = RemotingCommand::decode_header_bytes(serialize_type, &header)?;
        if !frame.is_empty() {
            cmd.body = Some(frame.freeze());
        }
        Ok(Some(cmd))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<RemotingCommand>, FrameError> {
        match self.decode(buf)? {
            Some(cmd) => Ok(Some(cmd)),
            None if buf.is_empty() => Ok(None),
            None => Err(FrameError::Truncated(buf.len())),
        }
    }
}

impl Encoder<RemotingCommand> for RemotingCodec {
    type Error = FrameError;

    fn encode(&mut self, item: RemotingCommand, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode_command(&item, dst)
    }
}

impl Encoder<&RemotingCommand> for RemotingCodec {
    type Error = FrameError;

    fn encode(&mut self, item: &RemotingCommand, dst: &mut BytesMut) -> Result<(), FrameError> {
        self.encode_command(item, dst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::LanguageCode;
    use bytes::Bytes;

    fn sample() -> RemotingCommand {
        let mut cmd = RemotingCommand::new_request(105);
        cmd.ext_fields.insert("topic".into(), "TopicTest".into());
        cmd.body = Some(Bytes::from_static(b"hello"));
        cmd
    }

    #[test]
    fn decodes_what_it_encodes_in_both_types() {
        for st in [SerializeType::Json, SerializeType::RocketMq] {
            let mut cmd = sample();
            cmd.serialize_type = st;
            let mut codec = RemotingCodec::default();
            let mut buf = BytesMut::new();
            codec.encode(&cmd, &mut buf).unwrap();
            assert_eq!(buf[4], st.code());
            let got = codec.decode(&mut buf).unwrap().unwrap();
            assert_eq!(got, cmd);
            assert!(buf.is_empty());
        }
    }

    #[test]
    fn decodes_a_java_request_frame() {
        let header = br#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":401}"#;
        let mut buf = BytesMut::new();
        buf.put_i32(4 + header.len() as i32);
        buf.put_u32(header.len() as u32);
        buf.put_slice(header);
        let cmd = RemotingCodec::default().decode(&mut buf).unwrap().unwrap();
        assert_eq!(cmd.code, 105);
        assert_eq!(cmd.language, LanguageCode::Java);
        assert_eq!(cmd.opaque, 3);
        assert_eq!(cmd.version, 401);
        assert_eq!(cmd.body, None);
    }

    #[test]
    fn oversized_length_fails_before_buffering() {
        let mut codec = RemotingCodec::new(1024);
        let mut buf = BytesMut::from(&1025i32.to_be_bytes()[..]);
        let err = codec.decode(&mut buf).unwrap_err();
        assert!(
            matches!(
                err,
                FrameError::FrameTooLong {
                    length: 1025,
                    max: 1024
                }
            ),
            "{err}"
        );
        assert!(buf.capacity() < 1024);
        let mut buf = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
        assert!(RemotingCodec::default().decode(&mut buf).is_err());
    }

    #[test]
    fn negative_and_tiny_lengths_fail() {
        for len in [-1i32, 0, 3, i32::MIN] {
            let mut buf = BytesMut::from(&len.to_be_bytes()[..]);
            assert!(RemotingCodec::default().decode(&mut buf).is_err(), "{len}");
        }
    }

    #[test]
    fn header_longer_than_frame_fails_early() {
        let mut buf = BytesMut::new();
        buf.put_i32(10);
        buf.put_u32(7);
        let err = RemotingCodec::default().decode(&mut buf).unwrap_err();
        assert!(err.to_string().contains("bad header length"), "{err}");
    }

    #[test]
    fn unknown_serialize_type_fails() {
        let mut buf = BytesMut::new();
        buf.put_i32(10);
        buf.put_u32(0x0700_0002);
        assert!(matches!(
            RemotingCodec::default().decode(&mut buf),
            Err(FrameError::UnknownSerializeType(7))
        ));
    }

    #[test]
    fn truncated_frame_waits_then_errors_at_eof() {
        let frame = RemotingCodec::default().encode_to_vec(&sample()).unwrap();
        let mut codec = RemotingCodec::default();
        let mut buf = BytesMut::from(&frame[..frame.len() - 1]);
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(matches!(
            codec.decode_eof(&mut buf),
            Err(FrameError::Truncated(_))
        ));
        let mut empty = BytesMut::new();
        assert!(codec.decode_eof(&mut empty).unwrap().is_none());
    }

    #[test]
    fn garbage_json_is_an_error_not_a_panic() {
        let mut buf = BytesMut::new();
        buf.put_i32(4 + 3);
        buf.put_u32(3);
        buf.put_slice(b"{x}");
        let err = RemotingCodec::default().decode(&mut buf).unwrap_err();
        assert!(err.to_string().starts_with("invalid JSON header"), "{err}");
    }

    #[test]
    fn encoding_rejects_frames_over_the_limit() {
        let mut cmd = sample();
        cmd.body = Some(Bytes::from(vec![0u8; 2048]));
        let err = RemotingCodec::new(1024).encode_to_vec(&cmd).unwrap_err();
        assert!(matches!(err, FrameError::FrameTooLong { .. }));
    }
}
