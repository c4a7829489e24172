//! SEND_BATCH_MESSAGE (320) body decoding (fact sheet §3.1): the concatenation
//! of `MessageDecoder.encodeMessages` records.
//!
//! Record (big-endian): TOTALSIZE i32 (whole record, this field included) |
//! MAGICCODE i32 (written 0) | BODYCRC i32 (written 0) | FLAG i32 | BODY i32 len +
//! bytes | PROPERTIES i16 len + UTF-8. TOTALSIZE must equal the sum of the parts;
//! every length is checked against the bytes present, and the message count is
//! capped, so a hostile body cannot make the decoder allocate or loop beyond it.

use bytes::Bytes;

/// Most messages accepted in one batch body.
pub const MAX_BATCH_MESSAGES: usize = 65_536;

/// One message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchMessage {
    pub flag: i32,
    pub body: Bytes,
    /// The 0x01/0x02-separated properties string.
    pub properties: String,
}

/// One message of a batch as [`BatchRecords`] reads it: borrowed from the request body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchRecord<'a> {
    pub flag: i32,
    pub body: &'a [u8],
    /// The 0x01/0x02-separated properties string.
    pub properties: &'a str,
}

/// Why a batch body is malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid batch message body at byte {offset}: {reason}")]
pub struct BatchError {
    pub offset: usize,
    pub reason: String,
}

/// Encodes messages as a SEND_BATCH_MESSAGE body. A message the format cannot hold (properties
/// over its i16 length, a record over i32) is refused with the error, never written cut short.
pub fn encode_batch(messages: &[BatchMessage]) -> Result<Vec<u8>, BatchError> {
    let size: usize = messages
        .iter()
        .map(|m| RECORD_OVERHEAD + m.body.len() + m.properties.len())
        .sum();
    // Sized up front: growing a batch of 32 KiB bodies by doubling copied it about twice over.
    let mut w = BatchBodyWriter::with_capacity(size);
    for m in messages {
        let props = m.properties.as_bytes();
        w.push(m.flag, &m.body, |out| out.extend_from_slice(props))?;
    }
    Ok(w.into_vec())
}

/// Bytes of a record besides its body and properties.
pub const RECORD_OVERHEAD: usize = 4 + 4 + 4 + 4 + 4 + 2;

/// Builds a SEND_BATCH_MESSAGE body one record at a time, each message's properties written
/// straight into it (a producer does not build a properties string per message first).
#[derive(Debug, Default)]
pub struct BatchBodyWriter {
    buf: Vec<u8>,
}

impl BatchBodyWriter {
    /// A writer whose buffer holds `bytes` without growing.
    pub fn with_capacity(bytes: usize) -> Self {
        BatchBodyWriter {
            buf: Vec::with_capacity(bytes),
        }
    }

    /// Appends one record; `properties` appends the message's properties string. Fails (and
    /// leaves the body as it was) when the properties or the record are too long for the
    /// format's length fields.
    pub fn push(
        &mut self,
        flag: i32,
        body: &[u8],
        properties: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), BatchError> {
        let start = self.buf.len();
        let err = |reason: String| BatchError {
            offset: start,
            reason,
        };
        let body_len = i32::try_from(body.len())
            .map_err(|_| err(format!("a body of {} bytes is too long", body.len())))?;
        // TOTALSIZE and the properties length are filled in once the properties are written;
        // MAGICCODE and BODYCRC stay 0. The fixed fields go in as one 20-byte piece.
        let mut head = [0u8; 20];
        head[12..16].copy_from_slice(&flag.to_be_bytes());
        head[16..20].copy_from_slice(&body_len.to_be_bytes());
        self.buf.reserve(head.len() + body.len() + 2);
        self.buf.extend_from_slice(&head);
        self.buf.extend_from_slice(body);
        let props_at = self.buf.len();
        self.buf.extend_from_slice(&0i16.to_be_bytes());
        properties(&mut self.buf);
        let props_len = self.buf.len() - props_at - 2;
        let total = self.buf.len() - start;
        let (Ok(props_len), Ok(total)) = (i16::try_from(props_len), i32::try_from(total)) else {
            self.buf.truncate(start);
            return Err(err(format!(
                "properties of {props_len} bytes exceed the batch format's 32767"
            )));
        };
        self.buf[start..start + 4].copy_from_slice(&total.to_be_bytes());
        self.buf[props_at..props_at + 2].copy_from_slice(&props_len.to_be_bytes());
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True before the first record.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The body.
    pub fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

/// Decodes a SEND_BATCH_MESSAGE body; bodies share the input buffer.
pub fn decode_batch(body: &Bytes) -> Result<Vec<BatchMessage>, BatchError> {
    BatchRecords::new(body)
        .map(|r| {
            r.map(|r| BatchMessage {
                flag: r.flag,
                body: body.slice_ref(r.body),
                properties: r.properties.to_owned(),
            })
        })
        .collect()
}

/// The records of a SEND_BATCH_MESSAGE body one at a time, borrowed from it, for a caller that
/// turns each into something else at once (the broker's send path) instead of collecting them
/// first. Yields an error at most once, then ends.
#[derive(Debug)]
pub struct BatchRecords<'a> {
    body: &'a [u8],
    pos: usize,
    count: usize,
    failed: bool,
}

impl<'a> BatchRecords<'a> {
    /// Starts at the first record of `body`.
    pub fn new(body: &'a [u8]) -> Self {
        BatchRecords {
            body,
            pos: 0,
            count: 0,
            failed: false,
        }
    }

    /// About how many records the body holds, read from the first record's size (batches are
    /// usually of like-sized messages): a capacity for the caller's output, not a promise.
    pub fn expected_len(&self) -> usize {
        let first = self
            .body
            .get(..4)
            .map_or(0, |s| i32::from_be_bytes([s[0], s[1], s[2], s[3]]));
        match usize::try_from(first) {
            Ok(n) if n >= RECORD_OVERHEAD => (self.body.len() / n).clamp(1, 1024),
            _ => 1,
        }
    }

    fn record(&mut self) -> Result<BatchRecord<'a>, BatchError> {
        let body = self.body;
        let pos = self.pos;
        if self.count >= MAX_BATCH_MESSAGES {
            return Err(BatchError {
                offset: pos,
                reason: format!("more than {MAX_BATCH_MESSAGES} messages in one batch"),
            });
        }
        let err = |offset: usize, reason: String| BatchError { offset, reason };
        let read = |at: usize, n: usize| -> Result<&[u8], BatchError> {
            body.get(at..at.saturating_add(n))
                .filter(|s| s.len() == n)
                .ok_or_else(|| {
                    err(
                        at,
                        format!("needs {n} more bytes but the body ends at {}", body.len()),
                    )
                })
        };
        let i32_at = |at: usize| -> Result<i32, BatchError> {
            let s = read(at, 4)?;
            Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
        };
        let total = i32_at(pos)?;
        let flag = i32_at(pos + 12)?;
        let body_len = i32_at(pos + 16)?;
        let body_len = usize::try_from(body_len)
            .map_err(|_| err(pos + 16, format!("negative body length {body_len}")))?;
        let body_start = pos + 20;
        read(body_start, body_len)?;
        let props_at = body_start + body_len;
        let p = read(props_at, 2)?;
        let props_len = i16::from_be_bytes([p[0], p[1]]);
        let props_len = usize::try_from(props_len)
            .map_err(|_| err(props_at, format!("negative properties length {props_len}")))?;
        let props = read(props_at + 2, props_len)?;
        let end = props_at + 2 + props_len;
        if usize::try_from(total).ok() != Some(end - pos) {
            return Err(err(
                pos,
                format!(
                    "TOTALSIZE {total} does not match the record's {} bytes",
                    end - pos
                ),
            ));
        }
        let properties = std::str::from_utf8(props)
            .map_err(|_| err(props_at + 2, "properties are not valid UTF-8".to_string()))?;
        self.pos = end;
        self.count += 1;
        Ok(BatchRecord {
            flag,
            body: &body[body_start..body_start + body_len],
            properties,
        })
    }
}

impl<'a> Iterator for BatchRecords<'a> {
    type Item = Result<BatchRecord<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.body.len() {
            return None;
        }
        let r = self.record();
        self.failed = r.is_err();
        Some(r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.body.len().saturating_sub(self.pos);
        if self.failed || left == 0 {
            (0, Some(0))
        } else {
            (1, Some(left.div_ceil(RECORD_OVERHEAD)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msgs() -> Vec<BatchMessage> {
        vec![
            BatchMessage {
                flag: 0,
                body: Bytes::from_static(b"one"),
                properties: "UNIQ_KEY\u{1}A\u{2}".into(),
            },
            BatchMessage {
                flag: 7,
                body: Bytes::new(),
                properties: String::new(),
            },
        ]
    }

    #[test]
    fn round_trips() {
        let bytes = Bytes::from(encode_batch(&msgs()).unwrap());
        assert_eq!(decode_batch(&bytes).unwrap(), msgs());
        assert!(decode_batch(&Bytes::new()).unwrap().is_empty());
    }

    #[test]
    fn rejects_truncation_and_inconsistent_sizes() {
        let bytes = encode_batch(&msgs()).unwrap();
        for cut in 1..bytes.len() {
            if cut == 4 + 4 + 4 + 4 + 4 + 3 + 2 + 11 {
                continue; // exactly the first record
            }
            assert!(
                decode_batch(&Bytes::copy_from_slice(&bytes[..cut])).is_err(),
                "cut {cut}"
            );
        }
        let mut bad = bytes.clone();
        bad[3] ^= 1;
        assert!(decode_batch(&Bytes::from(bad)).is_err());
        let mut huge = bytes;
        huge[16..20].copy_from_slice(&i32::MAX.to_be_bytes());
        assert!(decode_batch(&Bytes::from(huge)).is_err());
    }

    #[test]
    fn records_stop_after_the_first_error() {
        let mut bytes = encode_batch(&msgs()).unwrap();
        let first_len = 4 + 4 + 4 + 4 + 4 + 3 + 2 + 11;
        bytes[first_len + 3] ^= 1; // the second record's TOTALSIZE
        let bytes = Bytes::from(bytes);
        let mut it = BatchRecords::new(&bytes);
        assert_eq!(it.expected_len(), bytes.len() / first_len);
        let first = &msgs()[0];
        let want = BatchRecord {
            flag: first.flag,
            body: &first.body,
            properties: &first.properties,
        };
        assert_eq!(it.next(), Some(Ok(want)));
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(e.offset, first_len);
        assert_eq!(it.next(), None, "nothing after an error");
        assert_eq!(decode_batch(&bytes).unwrap_err(), e);
    }

    #[test]
    fn the_writer_writes_what_encode_batch_writes_and_refuses_long_properties() {
        let mut w = BatchBodyWriter::default();
        for m in msgs() {
            w.push(m.flag, &m.body, |out| {
                out.extend_from_slice(m.properties.as_bytes())
            })
            .unwrap();
        }
        let before = w.len();
        let long = vec![b'x'; 40_000];
        let e = w
            .push(1, b"body", |out| out.extend_from_slice(&long))
            .unwrap_err();
        assert!(e.to_string().contains("32767"), "{e}");
        assert_eq!(w.len(), before, "a refused record leaves nothing behind");
        let body = w.into_vec();
        assert_eq!(body, encode_batch(&msgs()).unwrap());
        let mut too_long = msgs();
        too_long[1].properties = "x".repeat(40_000);
        let e = encode_batch(&too_long).unwrap_err();
        assert!(e.to_string().contains("32767"), "{e}");
        assert_eq!(decode_batch(&Bytes::from(body)).unwrap(), msgs());
    }
}
