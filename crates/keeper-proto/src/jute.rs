//! Jute primitives: the big-endian field encoding every ZooKeeper record is built from.
//!
//! Layouts: `int` = 4 bytes, `long` = 8 bytes, `boolean` = 1 byte (any non-zero reads as true),
//! `buffer`/`ustring` = int32 length then raw bytes (length -1 = null), `vector` = int32 count
//! then elements (count -1 = null). Records are their fields concatenated, nothing else.
//!
//! Invariant kept by [`Reader`]: no length or count read from the input is trusted before it is
//! checked against both the bytes actually remaining and the configured limit, so hostile input
//! can never make us allocate more than the frame we already hold.

use bytes::{Buf, BufMut, Bytes};

/// ZooKeeper's default `jute.maxbuffer` (0xfffff bytes): the largest frame and znode payload.
pub const DEFAULT_MAX_BUFFER: usize = 0xfffff;

/// Errors raised while decoding jute data.
#[derive(Debug, thiserror::Error)]
pub enum JuteError {
    /// The input ended inside a field.
    #[error("truncated record: {what} needs {needed} bytes but only {remaining} remain")]
    Truncated {
        what: &'static str,
        needed: usize,
        remaining: usize,
    },
    /// A length or count is negative (other than -1), larger than the input or over the limit.
    #[error(
        "unreasonable length {len} for {what} (limit {limit} bytes); if the data is legitimate, \
         raise the server's max_data_bytes (jute.maxbuffer)"
    )]
    BadLength {
        what: &'static str,
        len: i64,
        limit: usize,
    },
    /// A ustring is not valid UTF-8.
    #[error("{what} is not valid UTF-8")]
    BadUtf8 { what: &'static str },
    /// A field holds a value the protocol does not define.
    #[error("invalid {what} value {value}")]
    BadValue { what: &'static str, value: i64 },
    /// A frame length prefix is negative or over the configured maximum.
    #[error(
        "frame length {len} outside 0..={limit}; the peer is not speaking the ZooKeeper protocol \
         or sent a packet larger than jute.maxbuffer"
    )]
    FrameLength { len: i64, limit: usize },
    /// The underlying socket failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

/// A bounds-checked cursor over one record's bytes.
pub struct Reader<B> {
    buf: B,
    limit: usize,
}

impl<B: Buf> Reader<B> {
    /// Reads from `buf`; any single buffer, string or vector longer than `limit` is rejected.
    pub fn new(buf: B, limit: usize) -> Self {
        Reader { buf, limit }
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.buf.remaining()
    }

    /// Gives back the rest of the input.
    pub fn into_inner(self) -> B {
        self.buf
    }

    fn need(&self, what: &'static str, n: usize) -> Result<(), JuteError> {
        if self.buf.remaining() < n {
            return Err(JuteError::Truncated {
                what,
                needed: n,
                remaining: self.buf.remaining(),
            });
        }
        Ok(())
    }

    /// A 4-byte big-endian signed int.
    pub fn int(&mut self, what: &'static str) -> Result<i32, JuteError> {
        self.need(what, 4)?;
        Ok(self.buf.get_i32())
    }

    /// An 8-byte big-endian signed long.
    pub fn long(&mut self, what: &'static str) -> Result<i64, JuteError> {
        self.need(what, 8)?;
        Ok(self.buf.get_i64())
    }

    /// A 1-byte boolean; like Java, any non-zero byte is true.
    pub fn boolean(&mut self, what: &'static str) -> Result<bool, JuteError> {
        self.need(what, 1)?;
        Ok(self.buf.get_u8() != 0)
    }

    /// Validates a length prefix: -1 means null, anything else must fit the input and the limit.
    fn length(&mut self, what: &'static str) -> Result<Option<usize>, JuteError> {
        let len = self.int(what)?;
        if len == -1 {
            return Ok(None);
        }
        if len < -1 || len as usize > self.limit || len as usize > self.buf.remaining() {
            return Err(JuteError::BadLength {
                what,
                len: i64::from(len),
                limit: self.limit.min(self.buf.remaining()),
            });
        }
        Ok(Some(len as usize))
    }

    /// A nullable byte buffer (`None` for length -1).
    pub fn buffer(&mut self, what: &'static str) -> Result<Option<Bytes>, JuteError> {
        match self.length(what)? {
            None => Ok(None),
            Some(n) => Ok(Some(self.buf.copy_to_bytes(n))),
        }
    }

    /// A byte buffer where null and empty mean the same thing.
    pub fn bytes(&mut self, what: &'static str) -> Result<Bytes, JuteError> {
        Ok(self.buffer(what)?.unwrap_or_default())
    }

    /// A nullable UTF-8 string (`None` for length -1).
    pub fn ustring_opt(&mut self, what: &'static str) -> Result<Option<String>, JuteError> {
        match self.length(what)? {
            None => Ok(None),
            Some(n) => {
                let mut raw = vec![0u8; n];
                self.buf.copy_to_slice(&mut raw);
                String::from_utf8(raw)
                    .map(Some)
                    .map_err(|_| JuteError::BadUtf8 { what })
            }
        }
    }

    /// A UTF-8 string where null reads as "" (kazoo writes empty strings as null).
    pub fn ustring(&mut self, what: &'static str) -> Result<String, JuteError> {
        Ok(self.ustring_opt(what)?.unwrap_or_default())
    }

    /// A nullable vector; every element takes at least one byte, so the count is checked against
    /// the remaining input before anything is allocated.
    pub fn vector_opt<T>(
        &mut self,
        what: &'static str,
        mut element: impl FnMut(&mut Self) -> Result<T, JuteError>,
    ) -> Result<Option<Vec<T>>, JuteError> {
        match self.length(what)? {
            None => Ok(None),
            Some(n) => {
                let mut out = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    out.push(element(self)?);
                }
                Ok(Some(out))
            }
        }
    }

    /// A vector where null reads as empty.
    pub fn vector<T>(
        &mut self,
        what: &'static str,
        element: impl FnMut(&mut Self) -> Result<T, JuteError>,
    ) -> Result<Vec<T>, JuteError> {
        Ok(self.vector_opt(what, element)?.unwrap_or_default())
    }

    /// A vector of strings (null reads as empty).
    pub fn strings(&mut self, what: &'static str) -> Result<Vec<String>, JuteError> {
        self.vector(what, |r| r.ustring(what))
    }

    /// A nested record.
    pub fn record<R: Record>(&mut self) -> Result<R, JuteError> {
        R::read(self)
    }
}

/// Writes a 4-byte int.
pub fn put_int(out: &mut impl BufMut, v: i32) {
    out.put_i32(v);
}

/// Writes an 8-byte long.
pub fn put_long(out: &mut impl BufMut, v: i64) {
    out.put_i64(v);
}

/// Writes a boolean as 0 or 1.
pub fn put_bool(out: &mut impl BufMut, v: bool) {
    out.put_u8(u8::from(v));
}

/// Writes a buffer (never null; empty is length 0).
pub fn put_buffer(out: &mut impl BufMut, v: &[u8]) {
    out.put_i32(v.len() as i32);
    out.put_slice(v);
}

/// Writes a nullable buffer (`None` as length -1).
pub fn put_buffer_opt(out: &mut impl BufMut, v: Option<&[u8]>) {
    match v {
        None => out.put_i32(-1),
        Some(b) => put_buffer(out, b),
    }
}

/// Writes a string (never null).
pub fn put_ustring(out: &mut impl BufMut, v: &str) {
    put_buffer(out, v.as_bytes());
}

/// Writes a vector of strings.
pub fn put_strings(out: &mut impl BufMut, v: &[String]) {
    out.put_i32(v.len() as i32);
    for s in v {
        put_ustring(out, s);
    }
}

/// Writes a vector of records.
pub fn put_records<R: Record>(out: &mut impl BufMut, v: &[R]) {
    out.put_i32(v.len() as i32);
    for r in v {
        r.write(out);
    }
}

/// A jute record: fields written in declaration order with no framing of their own.
pub trait Record: Sized {
    /// Appends the record's bytes to `out`.
    fn write<B: BufMut>(&self, out: &mut B);
    /// Reads one record from `r`.
    fn read<B: Buf>(r: &mut Reader<B>) -> Result<Self, JuteError>;

    /// The record's bytes as a fresh buffer.
    fn to_bytes(&self) -> Bytes {
        let mut out = bytes::BytesMut::new();
        self.write(&mut out);
        out.freeze()
    }

    /// Decodes a record from a complete slice, allowing trailing bytes (as Java does).
    fn from_slice(data: &[u8], limit: usize) -> Result<Self, JuteError> {
        let mut r = Reader::new(data, limit);
        Self::read(&mut r)
    }
}

/// The empty record: requests and replies with no body.
impl Record for () {
    fn write<B: BufMut>(&self, _out: &mut B) {}
    fn read<B: Buf>(_r: &mut Reader<B>) -> Result<Self, JuteError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_are_big_endian() {
        let mut out = Vec::new();
        put_int(&mut out, 1);
        put_long(&mut out, -2);
        put_bool(&mut out, true);
        put_ustring(&mut out, "ab");
        put_buffer_opt(&mut out, None);
        assert_eq!(
            out,
            vec![
                0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, 1, 0, 0, 0, 2, b'a',
                b'b', 0xff, 0xff, 0xff, 0xff
            ]
        );
        let mut r = Reader::new(&out[..], 100);
        assert_eq!(r.int("a").unwrap(), 1);
        assert_eq!(r.long("b").unwrap(), -2);
        assert!(r.boolean("c").unwrap());
        assert_eq!(r.ustring("d").unwrap(), "ab");
        assert_eq!(r.buffer("e").unwrap(), None);
        assert_eq!(r.remaining(), 0);
    }

    #[test]
    fn null_string_reads_as_empty() {
        let data = [0xffu8, 0xff, 0xff, 0xff];
        let mut r = Reader::new(&data[..], 100);
        assert_eq!(r.ustring("s").unwrap(), "");
    }

    #[test]
    fn nonzero_bool_is_true() {
        let mut r = Reader::new(&[7u8][..], 10);
        assert!(r.boolean("b").unwrap());
    }

    #[test]
    fn length_over_remaining_is_rejected() {
        let data = [0u8, 0, 0, 10, 1, 2];
        let mut r = Reader::new(&data[..], 100);
        assert!(matches!(
            r.buffer("x"),
            Err(JuteError::BadLength { len: 10, .. })
        ));
    }

    #[test]
    fn length_over_limit_is_rejected() {
        let mut data = vec![0u8, 0, 0, 8];
        data.extend_from_slice(&[0; 8]);
        let mut r = Reader::new(&data[..], 4);
        assert!(matches!(r.buffer("x"), Err(JuteError::BadLength { .. })));
    }

    #[test]
    fn negative_length_other_than_minus_one_is_rejected() {
        let data = [0xffu8, 0xff, 0xff, 0xfe, 0, 0];
        let mut r = Reader::new(&data[..], 100);
        assert!(matches!(
            r.ustring("x"),
            Err(JuteError::BadLength { len: -2, .. })
        ));
    }

    #[test]
    fn huge_vector_count_does_not_allocate() {
        let data = [0x7fu8, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        let mut r = Reader::new(&data[..], usize::MAX);
        assert!(matches!(r.strings("v"), Err(JuteError::BadLength { .. })));
    }

    #[test]
    fn truncated_int_is_an_error() {
        let mut r = Reader::new(&[0u8, 1][..], 10);
        assert!(matches!(
            r.int("x"),
            Err(JuteError::Truncated { needed: 4, .. })
        ));
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        let data = [0u8, 0, 0, 2, 0xc3, 0x28];
        let mut r = Reader::new(&data[..], 10);
        assert!(matches!(r.ustring("x"), Err(JuteError::BadUtf8 { .. })));
    }
}
