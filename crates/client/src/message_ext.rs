//! `MessageExt`: a message as stored by the broker, decoded from PULL bodies
//! (fact sheet §4.1 record layout, §4.3 sysFlag, §4.4 properties).
//!
//! Written here rather than borrowed from `courier-store` so the client does not
//! link a storage engine (mmap, file management) to read a few fields.
//! Invariants the decoder keeps: every length is checked against the bytes
//! present before it is used; TOTALSIZE must cover the fields it contains; a
//! record with an unknown magic is an error (a PULL body never holds blank
//! records); a body with sysFlag bit 0 set is zlib-inflated, capped at
//! `MAX_INFLATED_BODY` so a hostile record cannot exhaust memory.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;

use crate::error::ClientError;
use crate::message::{decode_properties, property};
use crate::message_id::offset_msg_id;

/// Record magic with a 1-byte topic length.
pub const MAGIC_V1: u32 = 0xDAA3_20A7;
/// Record magic with a 2-byte topic length.
pub const MAGIC_V2: u32 = 0xDAA3_20AB;
/// sysFlag: body is compressed.
pub const FLAG_COMPRESSED: i32 = 0x1;
/// sysFlag: born host is IPv6.
pub const FLAG_BORNHOST_V6: i32 = 0x10;
/// sysFlag: store host is IPv6.
pub const FLAG_STOREHOST_V6: i32 = 0x20;
/// sysFlag bits 8-10: compression type (0x300 = zlib; 0 with bit 0 = zlib too).
pub const COMPRESSION_TYPE_MASK: i32 = 0x700;
/// Largest body a compressed record may inflate to.
pub const MAX_INFLATED_BODY: usize = 64 * 1024 * 1024;

/// A consumed message with its storage metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageExt {
    pub topic: String,
    pub queue_id: i32,
    pub queue_offset: i64,
    /// CommitLog offset of the record.
    pub commit_log_offset: i64,
    pub store_size: i32,
    pub body_crc: u32,
    pub flag: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub store_timestamp: i64,
    pub store_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
    /// The body, inflated when the record was compressed.
    pub body: Bytes,
    pub properties: BTreeMap<String, String>,
    /// Server id: store host + commit-log offset, 32 hex chars (IPv4).
    pub offset_msg_id: String,
    /// Client id: UNIQ_KEY when present, else the offset id (as Java's getMsgId).
    pub msg_id: String,
}

impl MessageExt {
    pub fn tags(&self) -> Option<&str> {
        self.property(property::TAGS)
    }

    pub fn keys(&self) -> Option<&str> {
        self.property(property::KEYS)
    }

    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }
}

fn err(reason: impl Into<String>) -> ClientError {
    ClientError::Decode {
        what: "stored message record",
        reason: reason.into(),
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ClientError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| {
                err(format!(
                    "{what} needs {n} bytes at {} but the record has {}",
                    self.pos,
                    self.buf.len()
                ))
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ClientError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn i16(&mut self, what: &str) -> Result<i16, ClientError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &str) -> Result<i32, ClientError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    fn i64(&mut self, what: &str) -> Result<i64, ClientError> {
        Ok(i64::from_be_bytes(self.array(what)?))
    }

    fn host(&mut self, v6: bool, what: &str) -> Result<SocketAddr, ClientError> {
        let ip = if v6 {
            IpAddr::V6(Ipv6Addr::from(self.array::<16>(what)?))
        } else {
            IpAddr::V4(Ipv4Addr::from(self.array::<4>(what)?))
        };
        let port = self.i32(what)?;
        Ok(SocketAddr::new(ip, port as u16))
    }
}

/// Decodes every record of a PULL (or QUERY_MESSAGE) body, in order.
pub fn decode_messages(body: &[u8]) -> Result<Vec<MessageExt>, ClientError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < body.len() {
        let (m, size) = decode_message(&body[pos..])?;
        out.push(m);
        pos += size;
    }
    Ok(out)
}

/// Decodes the record at the start of `buf`; returns it and its size.
pub fn decode_message(buf: &[u8]) -> Result<(MessageExt, usize), ClientError> {
    let mut r = Reader { buf, pos: 0 };
    let total = r.i32("TOTALSIZE")?;
    let size = usize::try_from(total)
        .ok()
        .filter(|s| *s >= 8 && *s <= buf.len())
        .ok_or_else(|| {
            err(format!(
                "TOTALSIZE {total} is outside the {} bytes present",
                buf.len()
            ))
        })?;
    // Read only inside this record from here on.
    let mut r = Reader {
        buf: &buf[..size],
        pos: 4,
    };
    let magic = r.i32("MAGICCODE")? as u32;
    if magic != MAGIC_V1 && magic != MAGIC_V2 {
        return Err(err(format!("unknown magic code {magic:#010x}")));
    }
    let body_crc = r.i32("BODYCRC")? as u32;
    let queue_id = r.i32("QUEUEID")?;
    let flag = r.i32("FLAG")?;
    let queue_offset = r.i64("QUEUEOFFSET")?;
    let commit_log_offset = r.i64("PHYSICALOFFSET")?;
    let sys_flag = r.i32("SYSFLAG")?;
    let born_timestamp = r.i64("BORNTIMESTAMP")?;
    let born_host = r.host(sys_flag & FLAG_BORNHOST_V6 != 0, "BORNHOST")?;
    let store_timestamp = r.i64("STORETIMESTAMP")?;
    let store_host = r.host(sys_flag & FLAG_STOREHOST_V6 != 0, "STOREHOSTADDRESS")?;
    let reconsume_times = r.i32("RECONSUMETIMES")?;
    let prepared_transaction_offset = r.i64("PREPARED TRANSACTION OFFSET")?;
    let body_len = r.i32("BODY length")?;
    let body_len =
        usize::try_from(body_len).map_err(|_| err(format!("negative body length {body_len}")))?;
    let raw_body = r.take(body_len, "BODY")?;
    let topic_len = if magic == MAGIC_V2 {
        r.i16("TOPIC length")? as u16 as usize
    } else {
        r.array::<1>("TOPIC length")?[0] as usize
    };
    let topic = std::str::from_utf8(r.take(topic_len, "TOPIC")?)
        .map_err(|_| err("topic is not UTF-8"))?
        .to_string();
    let props_len = r.i16("PROPERTIES length")?;
    let props_len = usize::try_from(props_len)
        .map_err(|_| err(format!("negative properties length {props_len}")))?;
    let props = std::str::from_utf8(r.take(props_len, "PROPERTIES")?)
        .map_err(|_| err("properties are not UTF-8"))?;
    let properties = decode_properties(props);

    let body = if sys_flag & FLAG_COMPRESSED != 0 {
        let compression = sys_flag & COMPRESSION_TYPE_MASK;
        if compression != 0 && compression != 0x300 {
            return Err(err(format!(
                "body compressed with type {compression:#x}; this client inflates only zlib"
            )));
        }
        Bytes::from(inflate(raw_body)?)
    } else {
        Bytes::copy_from_slice(raw_body)
    };
    let offset_msg_id = offset_msg_id(store_host, commit_log_offset);
    let msg_id = properties
        .get(property::UNIQ_KEY)
        .cloned()
        .unwrap_or_else(|| offset_msg_id.clone());
    Ok((
        MessageExt {
            topic,
            queue_id,
            queue_offset,
            commit_log_offset,
            store_size: total,
            body_crc,
            flag,
            sys_flag,
            born_timestamp,
            born_host,
            store_timestamp,
            store_host,
            reconsume_times,
            prepared_transaction_offset,
            body,
            properties,
            offset_msg_id,
            msg_id,
        },
        size,
    ))
}

pub(crate) fn inflate(data: &[u8]) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .take(MAX_INFLATED_BODY as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| err(format!("compressed body does not inflate: {e}")))?;
    if out.len() > MAX_INFLATED_BODY {
        return Err(err(format!(
            "compressed body inflates beyond {MAX_INFLATED_BODY} bytes"
        )));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::compress::compress;
    use crate::message::encode_properties;

    /// Builds a V1 IPv4 record the way the broker stores it.
    pub(crate) fn record(
        topic: &str,
        queue_offset: i64,
        sys_flag: i32,
        body: &[u8],
        props: &str,
    ) -> Vec<u8> {
        let mut v = Vec::new();
        let total = 91 + body.len() + topic.len() + props.len();
        v.extend_from_slice(&(total as i32).to_be_bytes());
        v.extend_from_slice(&MAGIC_V1.to_be_bytes());
        v.extend_from_slice(&7u32.to_be_bytes());
        v.extend_from_slice(&3i32.to_be_bytes());
        v.extend_from_slice(&0i32.to_be_bytes());
        v.extend_from_slice(&queue_offset.to_be_bytes());
        v.extend_from_slice(&0x1234i64.to_be_bytes());
        v.extend_from_slice(&sys_flag.to_be_bytes());
        v.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        v.extend_from_slice(&[10, 0, 0, 2]);
        v.extend_from_slice(&5555i32.to_be_bytes());
        v.extend_from_slice(&1_700_000_000_001i64.to_be_bytes());
        v.extend_from_slice(&[10, 0, 0, 1]);
        v.extend_from_slice(&10911i32.to_be_bytes());
        v.extend_from_slice(&0i32.to_be_bytes());
        v.extend_from_slice(&0i64.to_be_bytes());
        v.extend_from_slice(&(body.len() as i32).to_be_bytes());
        v.extend_from_slice(body);
        v.push(topic.len() as u8);
        v.extend_from_slice(topic.as_bytes());
        v.extend_from_slice(&(props.len() as i16).to_be_bytes());
        v.extend_from_slice(props.as_bytes());
        assert_eq!(v.len(), total);
        v
    }

    #[test]
    fn decodes_fields_ids_and_properties() {
        let mut p = BTreeMap::new();
        p.insert("TAGS".to_string(), "TagA".to_string());
        p.insert("UNIQ_KEY".to_string(), "ABC".to_string());
        let mut body = record("T", 5, 0, b"hello", &encode_properties(&p));
        body.extend(record("T", 6, 0, b"x", ""));
        let ms = decode_messages(&body).unwrap();
        assert_eq!(ms.len(), 2);
        let m = &ms[0];
        assert_eq!((m.topic.as_str(), m.queue_id, m.queue_offset), ("T", 3, 5));
        assert_eq!(m.body.as_ref(), b"hello");
        assert_eq!(m.tags(), Some("TagA"));
        assert_eq!(m.msg_id, "ABC");
        assert_eq!(m.offset_msg_id, "0A00000100002A9F0000000000001234");
        assert_eq!(m.born_host.to_string(), "10.0.0.2:5555");
        assert_eq!(ms[1].msg_id, ms[1].offset_msg_id);
    }

    #[test]
    fn inflates_compressed_bodies() {
        let plain = vec![b'z'; 10_000];
        let packed = compress(&plain, 5).unwrap();
        let rec = record("T", 0, FLAG_COMPRESSED | 0x300, &packed, "");
        let (m, size) = decode_message(&rec).unwrap();
        assert_eq!(size, rec.len());
        assert_eq!(m.body.as_ref(), plain.as_slice());
    }

    #[test]
    fn truncated_and_corrupt_records_are_errors_not_panics() {
        let rec = record("Topic", 0, 0, b"body", "a\u{1}b\u{2}");
        for cut in 0..rec.len() {
            assert!(decode_messages(&rec[..cut]).is_err() || cut == 0);
        }
        let mut bad = rec.clone();
        bad[4] = 0;
        assert!(decode_messages(&bad).is_err());
        let mut bad = rec.clone();
        bad[84..88].copy_from_slice(&(-1i32).to_be_bytes());
        assert!(decode_messages(&bad).is_err());
        let rec = record("T", 0, FLAG_COMPRESSED, b"not zlib", "");
        assert!(decode_messages(&rec).is_err());
    }
}
