//! Length-prefixed framing: a 4-byte big-endian length L, then L bytes of payload.
//!
//! Invariant: the decoder never reserves more than the configured maximum, and rejects a
//! negative or oversized L as soon as the 4 prefix bytes have arrived — before any payload is
//! buffered — so a hostile length costs nothing. Four-letter words are not handled here: the
//! server looks at the first 4 bytes of a connection before it installs this codec.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::jute::{JuteError, Record};
use crate::records::ReplyHeader;

/// Codec for ZooKeeper frames; items are whole payloads without the prefix.
#[derive(Debug, Clone)]
pub struct FrameCodec {
    max_frame: usize,
}

impl FrameCodec {
    /// Frames longer than `max_frame` bytes are a protocol error.
    pub fn new(max_frame: usize) -> Self {
        FrameCodec { max_frame }
    }

    /// Checks a length prefix against the limit.
    pub fn check_len(&self, len: i32) -> Result<usize, JuteError> {
        if len < 0 || len as usize > self.max_frame {
            return Err(JuteError::FrameLength {
                len: i64::from(len),
                limit: self.max_frame,
            });
        }
        Ok(len as usize)
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = JuteError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, JuteError> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = self.check_len(i32::from_be_bytes([src[0], src[1], src[2], src[3]]))?;
        if src.len() < 4 + len {
            src.reserve(4 + len - src.len());
            return Ok(None);
        }
        src.advance(4);
        Ok(Some(src.split_to(len).freeze()))
    }
}

impl Encoder<Bytes> for FrameCodec {
    type Error = JuteError;

    fn encode(&mut self, item: Bytes, dst: &mut BytesMut) -> Result<(), JuteError> {
        dst.reserve(4 + item.len());
        dst.put_i32(item.len() as i32);
        dst.put_slice(&item);
        Ok(())
    }
}

/// Builds a complete frame (length prefix included) from a header and a body record.
pub fn frame<H: Record, R: Record>(header: &H, body: &R) -> Bytes {
    let mut out = BytesMut::with_capacity(64);
    out.put_i32(0);
    header.write(&mut out);
    body.write(&mut out);
    let len = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out.freeze()
}

/// A reply frame: error replies carry the header only (clients never parse a body on error).
pub fn reply_frame<R: Record>(xid: i32, zxid: i64, err: i32, body: &R) -> Bytes {
    let header = ReplyHeader { xid, zxid, err };
    if err == 0 {
        frame(&header, body)
    } else {
        frame(&header, &())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_split_frames() {
        let mut codec = FrameCodec::new(100);
        let mut buf = BytesMut::new();
        buf.extend_from_slice(&[0, 0, 0, 3, b'a']);
        assert_eq!(codec.decode(&mut buf).unwrap(), None);
        buf.extend_from_slice(b"bc");
        assert_eq!(
            codec.decode(&mut buf).unwrap(),
            Some(Bytes::from_static(b"abc"))
        );
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_oversized_and_negative_lengths() {
        let mut codec = FrameCodec::new(100);
        let mut buf = BytesMut::from(&[0u8, 0, 0, 101][..]);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(JuteError::FrameLength { len: 101, .. })
        ));
        let mut buf = BytesMut::from(&[0xffu8, 0xff, 0xff, 0xff][..]);
        assert!(codec.decode(&mut buf).is_err());
    }

    #[test]
    fn error_reply_has_no_body() {
        let f = reply_frame(5, 7, -101, &crate::records::StatResponse::default());
        assert_eq!(f.len(), 4 + 16);
        let ok = reply_frame(5, 7, 0, &crate::records::StatResponse::default());
        assert_eq!(ok.len(), 4 + 16 + 68);
    }
}
