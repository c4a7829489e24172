//! The CommitLog record codec (RocketMQ `MessageDecoder`/`CommitLog` layout, big-endian):
//! TOTALSIZE i32 @0, MAGIC @4, BODYCRC @8, QUEUEID @12, FLAG @16, QUEUEOFFSET i64 @20,
//! PHYSICALOFFSET i64 @28, SYSFLAG @36, BORNTIMESTAMP i64 @40, BORNHOST (8 | 20 bytes with sysflag
//! 0x10), STORETIMESTAMP i64, STOREHOST (8 | 20 with 0x20), RECONSUMETIMES i32, PREPARED OFFSET i64,
//! body (i32 len + bytes), topic (u8 len, or i16 len with the V2 magic), properties (i16 len + bytes).
//!
//! Invariants: the host sysflag bits always match the host address families actually written; the V2
//! magic is used only when the topic is longer than 127 bytes; BODYCRC is `crc32 & 0x7FFFFFFF`.
//! Decoding borrows from the input and never allocates.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;

use crate::error::RecordError;

/// Magic of a V1 record (1-byte topic length).
pub const MAGIC_V1: u32 = 0xDAA3_20A7;
/// Magic of a V2 record (2-byte topic length).
pub const MAGIC_V2: u32 = 0xDAA3_20AB;
/// Magic of the blank record that pads the end of a segment.
pub const MAGIC_BLANK: u32 = 0xCBD4_3194;
/// A message never ends closer than this to the end of a segment: room for the blank record.
pub const END_FILE_MIN_BLANK_LENGTH: usize = 8;
/// Properties longer than this cannot be encoded (i16 length).
pub const MAX_PROPERTIES_LEN: usize = i16::MAX as usize;

/// sysFlag: born host is IPv6.
pub const FLAG_BORNHOST_V6: i32 = 0x10;
/// sysFlag: store host is IPv6.
pub const FLAG_STOREHOST_V6: i32 = 0x20;
/// sysFlag: mask of the transaction type bits.
pub const FLAG_TRANSACTION_MASK: i32 = 0xC;
/// Transaction type: half (prepared) message.
pub const FLAG_TRANSACTION_PREPARED: i32 = 0x4;
/// Transaction type: commit record.
pub const FLAG_TRANSACTION_COMMIT: i32 = 0x8;
/// Transaction type: rollback record.
pub const FLAG_TRANSACTION_ROLLBACK: i32 = 0xC;

/// Property separators (RocketMQ `MessageDecoder`).
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Separator after each key/value pair.
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// Byte offsets of the fixed header fields.
pub(crate) const POS_MAGIC: usize = 4;
pub(crate) const POS_BODY_CRC: usize = 8;
pub(crate) const POS_QUEUE_ID: usize = 12;
pub(crate) const POS_QUEUE_OFFSET: usize = 20;
pub(crate) const POS_PHYS_OFFSET: usize = 28;
pub(crate) const POS_SYS_FLAG: usize = 36;
pub(crate) const POS_BORN_HOST: usize = 48;

/// A message as handed to the store by the broker.
#[derive(Clone, Debug)]
pub struct MessageToStore {
    /// Topic (UTF-8; more than 127 bytes forces the V2 record format).
    pub topic: String,
    /// Queue id within the topic (>= 0).
    pub queue_id: i32,
    /// User flag.
    pub flag: i32,
    /// Body as stored (already compressed if the producer compressed it).
    pub body: Bytes,
    /// Already-encoded properties string (see [`encode_properties`]).
    pub properties: String,
    /// MessageSysFlag bits; the host IPv6 bits are recomputed from the addresses.
    pub sys_flag: i32,
    /// Producer timestamp, ms.
    pub born_timestamp: i64,
    /// Producer address.
    pub born_host: SocketAddr,
    /// Times this message was re-consumed.
    pub reconsume_times: i32,
    /// For commit/rollback records: offset of the half message.
    pub prepared_transaction_offset: i64,
}

impl MessageToStore {
    /// The message as the put path reads it.
    pub fn as_ref(&self) -> MessageRef<'_> {
        MessageRef {
            topic: &self.topic,
            queue_id: self.queue_id,
            flag: self.flag,
            body: &self.body,
            properties: &self.properties,
            sys_flag: self.sys_flag,
            born_timestamp: self.born_timestamp,
            born_host: self.born_host,
            reconsume_times: self.reconsume_times,
            prepared_transaction_offset: self.prepared_transaction_offset,
        }
    }

    /// A plain message with no properties, born now at 127.0.0.1:0.
    pub fn new(topic: impl Into<String>, queue_id: i32, body: impl Into<Bytes>) -> Self {
        MessageToStore {
            topic: topic.into(),
            queue_id,
            flag: 0,
            body: body.into(),
            properties: String::new(),
            sys_flag: 0,
            born_timestamp: now_ms(),
            born_host: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            reconsume_times: 0,
            prepared_transaction_offset: 0,
        }
    }
}

/// A message to store that borrows its text and bytes (fields as in [`MessageToStore`]): the
/// messages of a SEND_BATCH_MESSAGE are appended straight from the request, sharing its topic
/// and reading each body and properties string where the request holds them, with no
/// allocation or copy per message before the one into the CommitLog.
#[derive(Clone, Copy, Debug)]
pub struct MessageRef<'a> {
    pub topic: &'a str,
    pub queue_id: i32,
    pub flag: i32,
    pub body: &'a [u8],
    pub properties: &'a str,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
}

impl MessageRef<'_> {
    /// Length of the CommitLog record this message becomes on a store whose host is `store_host`.
    fn stored_len(&self, store_host: &SocketAddr) -> usize {
        record_len(
            self.topic.len(),
            self.body.len(),
            self.properties.len(),
            &self.born_host,
            store_host,
        )
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Java `String.hashCode()`: `h = 31*h + c` over UTF-16 code units with wrapping i32 arithmetic.
pub fn java_string_hash(s: &str) -> i32 {
    java_hash_continue(0, s)
}

/// `31^i` for i in 0..=8, wrapping: the weights of an 8-byte ASCII run in the Java hash.
const POW31: [u32; 9] = {
    let mut p = [1u32; 9];
    let mut i = 1;
    while i < 9 {
        p[i] = p[i - 1].wrapping_mul(31);
        i += 1;
    }
    p
};

/// Continues a Java string hash `h` over the UTF-16 units of `s`, so that
/// `java_hash_continue(java_string_hash(a), b) == java_string_hash(a + b)`: the index hashes
/// `topic#key` without building the string.
///
/// Runs of 8 ASCII bytes fold in with independent multiplies (`h*31^8 + Σ b_i*31^(7-i)`)
/// instead of a chain of 8 dependent ones; other characters go unit by unit as Java does.
pub fn java_hash_continue(h: i32, s: &str) -> i32 {
    let b = s.as_bytes();
    let mut h = h as u32;
    let mut i = 0;
    while i < b.len() {
        if let Some(chunk) = b.get(i..i + 8) {
            let word = u64::from_le_bytes([
                chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7],
            ]);
            if word & 0x8080_8080_8080_8080 == 0 {
                let mut sum = 0u32;
                for (k, &c) in chunk.iter().enumerate() {
                    sum = sum.wrapping_add((c as u32).wrapping_mul(POW31[7 - k]));
                }
                h = h.wrapping_mul(POW31[8]).wrapping_add(sum);
                i += 8;
                continue;
            }
        }
        if b[i] < 0x80 {
            h = h.wrapping_mul(31).wrapping_add(b[i] as u32);
            i += 1;
            continue;
        }
        // `i` is a char boundary: everything before it was whole ASCII bytes or whole chars.
        let Some(c) = s.get(i..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        let mut units = [0u16; 2];
        for u in c.encode_utf16(&mut units) {
            h = h.wrapping_mul(31).wrapping_add(*u as u32);
        }
        i += c.len_utf8();
    }
    h as i32
}

/// ConsumeQueue tags code of a TAGS value: its Java hash sign-extended, 0 when absent or empty.
pub fn tags_code(tags: Option<&str>) -> i64 {
    match tags {
        Some(t) if !t.is_empty() => java_string_hash(t) as i64,
        _ => 0,
    }
}

/// Encodes properties the way Java does: `key 0x01 value 0x02` per pair, trailing 0x02 included.
pub fn encode_properties(props: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(props.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (k, v) in props {
        out.push_str(k);
        out.push(NAME_VALUE_SEPARATOR);
        out.push_str(v);
        out.push(PROPERTY_SEPARATOR);
    }
    out
}

/// Sets `key` to `value` in an encoded properties string, as Java's `putProperty` does before
/// the string is re-encoded: an absent key is appended (one push, no re-encoding, which is the
/// common case on the send path); a key present with another value is replaced, so the string
/// never carries two pairs for it.
pub fn put_property(props: &mut String, key: &str, value: &str) {
    match property_value(props, key) {
        Some(v) if v == value => {}
        Some(_) => {
            let pairs: Vec<(&str, &str)> = properties_iter(props)
                .filter(|(k, _)| *k != key)
                .chain(std::iter::once((key, value)))
                .collect();
            *props = encode_properties(&pairs);
        }
        None => {
            if !props.is_empty() && !props.ends_with(PROPERTY_SEPARATOR) {
                props.push(PROPERTY_SEPARATOR);
            }
            props.reserve(key.len() + value.len() + 2);
            props.push_str(key);
            props.push(NAME_VALUE_SEPARATOR);
            props.push_str(value);
            props.push(PROPERTY_SEPARATOR);
        }
    }
}

/// Decodes a properties string into borrowed pairs, with Java's leniency: segments shorter than
/// 3 characters and pairs with an empty key or value are skipped.
pub fn decode_properties(s: &str) -> Vec<(&str, &str)> {
    properties_iter(s).collect()
}

/// Iterates the pairs of a properties string without allocating.
pub fn properties_iter(s: &str) -> impl Iterator<Item = (&str, &str)> {
    s.split(PROPERTY_SEPARATOR).filter_map(|seg| {
        if seg.len() < 3 {
            return None;
        }
        let (k, v) = seg.split_once(NAME_VALUE_SEPARATOR)?;
        if k.is_empty() || v.is_empty() {
            None
        } else {
            Some((k, v))
        }
    })
}

/// Value of one property, without allocating. The last occurrence wins, as in Java's HashMap decode.
pub fn property_value<'a>(props: &'a str, key: &str) -> Option<&'a str> {
    let [v] = property_values(props, [key]);
    v
}

/// Values of several properties in one pass over `props` (see [`property_value`]).
pub fn property_values<'a, const N: usize>(
    props: &'a str,
    keys: [&str; N],
) -> [Option<&'a str>; N] {
    // Byte-level scan (the separators are ASCII, so every split point is a char boundary); same
    // leniency as `properties_iter`: a segment matches `key 0x01 value` with a non-empty value.
    let bytes = props.as_bytes();
    let mut found = [None; N];
    let mut start = 0;
    while start < bytes.len() {
        let end = memchr::memchr(2, &bytes[start..]).map_or(bytes.len(), |p| start + p);
        let seg = &bytes[start..end];
        for (k, slot) in keys.iter().zip(found.iter_mut()) {
            let k = k.as_bytes();
            // Length, separator and first byte before the full compare (a memcmp call).
            if !k.is_empty()
                && seg.len() > k.len() + 1
                && seg[k.len()] == 1
                && seg[0] == k[0]
                && seg.starts_with(k)
            {
                *slot = props.get(start + k.len() + 1..end);
            }
        }
        start = end + 1;
    }
    found
}

/// Offset message id: store host IP + port (i32) + physical offset (i64), uppercase hex.
pub fn offset_msg_id(store_host: SocketAddr, phys_offset: i64) -> String {
    offset_msg_ids(store_host, [phys_offset])
}

/// The [`offset_msg_id`]s of records at `offsets` on one store, comma-joined (a batch's answer).
/// The host part is the same in every id: it is rendered once.
pub fn offset_msg_ids(store_host: SocketAddr, offsets: impl IntoIterator<Item = i64>) -> String {
    let mut raw = [0u8; 20];
    let n = match store_host.ip() {
        IpAddr::V4(ip) => {
            raw[..4].copy_from_slice(&ip.octets());
            4
        }
        IpAddr::V6(ip) => {
            raw[..16].copy_from_slice(&ip.octets());
            16
        }
    };
    raw[n..n + 4].copy_from_slice(&(store_host.port() as i32).to_be_bytes());
    // On the stack: a single send renders one id per message, with one allocation (the String).
    let mut host = [0u8; 40];
    let host = &mut host[..(n + 4) * 2];
    hex_into(&raw[..n + 4], host);
    let offsets = offsets.into_iter();
    let mut out = Vec::with_capacity(offsets.size_hint().0.max(1) * (host.len() + 17));
    for (i, phys) in offsets.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(host);
        let mut digits = [0u8; 16];
        hex_into(&phys.to_be_bytes(), &mut digits);
        out.extend_from_slice(&digits);
    }
    // Hex digits and commas only: ASCII, so this never takes the error branch.
    String::from_utf8(out).unwrap_or_default()
}

/// The [`offset_msg_ids`] of a run of records laid end to end from `first`, `lens` bytes each: a
/// put's answer, one id per record.
pub(crate) fn run_msg_ids(
    store_host: SocketAddr,
    first: i64,
    lens: impl IntoIterator<Item = usize>,
) -> String {
    // `map` rather than `scan`: it keeps the length hint the output is sized from.
    let mut next = first;
    let offsets = lens.into_iter().map(move |len| {
        let at = next;
        next += len as i64;
        at
    });
    offset_msg_ids(store_host, offsets)
}

/// Writes `bytes` as uppercase hex into `out`, two digits each (`out` is twice as long).
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        pair[0] = HEX[(b >> 4) as usize];
        pair[1] = HEX[(b & 0xF) as usize];
    }
}

/// Decodes an offset message id back into (store host, physical offset).
pub fn decode_offset_msg_id(id: &str) -> Option<(SocketAddr, i64)> {
    let ip_len = match id.len() {
        32 => 4,
        56 => 16,
        _ => return None,
    };
    let mut raw = [0u8; 28];
    let bytes = id.as_bytes();
    for (i, slot) in raw.iter_mut().take(ip_len + 12).enumerate() {
        let hi = (bytes[2 * i] as char).to_digit(16)?;
        let lo = (bytes[2 * i + 1] as char).to_digit(16)?;
        *slot = (hi * 16 + lo) as u8;
    }
    let ip = if ip_len == 4 {
        IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
    } else {
        let mut o = [0u8; 16];
        o.copy_from_slice(&raw[..16]);
        IpAddr::V6(Ipv6Addr::from(o))
    };
    let port = i32::from_be_bytes(raw[ip_len..ip_len + 4].try_into().ok()?);
    let off = i64::from_be_bytes(raw[ip_len + 4..ip_len + 12].try_into().ok()?);
    Some((SocketAddr::new(ip, port as u16), off))
}

/// Masked body CRC as stored in BODYCRC.
pub fn body_crc(body: &[u8]) -> u32 {
    crc32fast::hash(body) & 0x7FFF_FFFF
}

fn host_len(addr: &SocketAddr) -> usize {
    if addr.is_ipv6() {
        20
    } else {
        8
    }
}

/// Encoded length of a record with these field sizes.
pub(crate) fn record_len(
    topic_len: usize,
    body_len: usize,
    props_len: usize,
    born: &SocketAddr,
    store: &SocketAddr,
) -> usize {
    let topic_prefix = if topic_len > 127 { 2 } else { 1 };
    4 + 4
        + 4
        + 4
        + 4
        + 8
        + 8
        + 4
        + 8
        + host_len(born)
        + 8
        + host_len(store)
        + 4
        + 8
        + 4
        + body_len
        + topic_prefix
        + topic_len
        + 2
        + props_len
}

/// What the put path computes outside the lock for one message.
pub(crate) struct PreparedRecord<'a> {
    pub msg: MessageRef<'a>,
    pub len: usize,
    pub crc: u32,
    pub sys_flag: i32,
    pub tags_code: i64,
    /// False for prepared/rollback transaction records: queue offset 0, not in CQ or index.
    pub dispatch: bool,
}

impl<'a> PreparedRecord<'a> {
    pub fn new(msg: MessageRef<'a>, store_host: &SocketAddr) -> Self {
        let mut sys_flag = msg.sys_flag & !(FLAG_BORNHOST_V6 | FLAG_STOREHOST_V6);
        if msg.born_host.is_ipv6() {
            sys_flag |= FLAG_BORNHOST_V6;
        }
        if store_host.is_ipv6() {
            sys_flag |= FLAG_STOREHOST_V6;
        }
        let tx = sys_flag & FLAG_TRANSACTION_MASK;
        PreparedRecord {
            msg,
            len: msg.stored_len(store_host),
            crc: body_crc(msg.body),
            sys_flag,
            tags_code: tags_code(property_value(msg.properties, "TAGS")),
            dispatch: tx != FLAG_TRANSACTION_PREPARED && tx != FLAG_TRANSACTION_ROLLBACK,
        }
    }
}

struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn put(&mut self, src: &[u8]) {
        self.buf[self.pos..self.pos + src.len()].copy_from_slice(src);
        self.pos += src.len();
    }
    fn host(&mut self, addr: &SocketAddr) {
        match addr.ip() {
            IpAddr::V4(ip) => self.put(&ip.octets()),
            IpAddr::V6(ip) => self.put(&ip.octets()),
        }
        self.put(&(addr.port() as i32).to_be_bytes());
    }
}

/// Writes the record into `dst`, which must be exactly `rec.len` bytes.
pub(crate) fn write_record(
    dst: &mut [u8],
    rec: &PreparedRecord<'_>,
    queue_offset: i64,
    phys_offset: i64,
    store_timestamp: i64,
    store_host: &SocketAddr,
) {
    let m = &rec.msg;
    let v2 = m.topic.len() > 127;
    let mut w = Writer { buf: dst, pos: 0 };
    w.put(&(rec.len as i32).to_be_bytes());
    w.put(&(if v2 { MAGIC_V2 } else { MAGIC_V1 }).to_be_bytes());
    w.put(&rec.crc.to_be_bytes());
    w.put(&m.queue_id.to_be_bytes());
    w.put(&m.flag.to_be_bytes());
    w.put(&queue_offset.to_be_bytes());
    w.put(&phys_offset.to_be_bytes());
    w.put(&rec.sys_flag.to_be_bytes());
    w.put(&m.born_timestamp.to_be_bytes());
    w.host(&m.born_host);
    w.put(&store_timestamp.to_be_bytes());
    w.host(store_host);
    w.put(&m.reconsume_times.to_be_bytes());
    w.put(&m.prepared_transaction_offset.to_be_bytes());
    w.put(&(m.body.len() as i32).to_be_bytes());
    w.put(m.body);
    if v2 {
        w.put(&(m.topic.len() as i16).to_be_bytes());
    } else {
        w.put(&[m.topic.len() as u8]);
    }
    w.put(m.topic.as_bytes());
    w.put(&(m.properties.len() as i16).to_be_bytes());
    w.put(m.properties.as_bytes());
}

/// Encodes one record into a new Vec (tests and tools; the store writes into its mapped files).
pub fn encode_record(
    msg: &MessageToStore,
    queue_offset: i64,
    phys_offset: i64,
    store_timestamp: i64,
    store_host: SocketAddr,
) -> Vec<u8> {
    let rec = PreparedRecord::new(msg.as_ref(), &store_host);
    let mut out = vec![0u8; rec.len];
    write_record(
        &mut out,
        &rec,
        queue_offset,
        phys_offset,
        store_timestamp,
        &store_host,
    );
    out
}

/// What the bytes at a record position are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordHead {
    /// A message record claiming this total size.
    Message(u32),
    /// The blank end-of-segment record of this size.
    Blank(u32),
    /// Zero TOTALSIZE and magic: end of written data.
    End,
    /// Anything else.
    Garbage,
}

pub(crate) fn peek_head(buf: &[u8]) -> RecordHead {
    if buf.len() < 8 {
        return RecordHead::End;
    }
    let size = be_i32(buf, 0);
    let magic = be_u32(buf, POS_MAGIC);
    match magic {
        0 if size == 0 => RecordHead::End,
        MAGIC_V1 | MAGIC_V2 if size > 0 => RecordHead::Message(size as u32),
        MAGIC_BLANK if size > 0 => RecordHead::Blank(size as u32),
        _ => RecordHead::Garbage,
    }
}

#[inline]
pub(crate) fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
#[inline]
pub(crate) fn be_u32(b: &[u8], at: usize) -> u32 {
    be_i32(b, at) as u32
}
#[inline]
pub(crate) fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

/// A decoded record borrowing the bytes it came from.
#[derive(Clone, Copy, Debug)]
pub struct StoredMessage<'a> {
    buf: &'a [u8],
    store_ts_at: usize,
    store_host_at: usize,
    tail_at: usize,
    body_at: usize,
    body_len: usize,
    topic_at: usize,
    topic_len: usize,
    props_at: usize,
    props_len: usize,
}

/// Decodes and CRC-checks the record at the start of `buf` (which may extend past the record).
pub fn decode_record(buf: &[u8]) -> Result<StoredMessage<'_>, RecordError> {
    decode_record_with(buf, true)
}

/// Decodes the record at the start of `buf`, verifying the body CRC only when `check_crc`.
pub fn decode_record_with(buf: &[u8], check_crc: bool) -> Result<StoredMessage<'_>, RecordError> {
    let m = decode_layout(buf)?;
    if check_crc {
        let stored = be_u32(m.buf, POS_BODY_CRC);
        let computed = body_crc(m.body());
        if stored != computed {
            return Err(RecordError::CrcMismatch { stored, computed });
        }
    }
    if as_utf8(m.topic_bytes()).is_none() {
        return Err(RecordError::BadUtf8("topic"));
    }
    if as_utf8(m.properties_bytes()).is_none() {
        return Err(RecordError::BadUtf8("properties"));
    }
    Ok(m)
}

/// `b` as text if it is UTF-8. Topics and properties are nearly always ASCII, which `is_ascii`
/// checks a word at a time, cheaper than the general validator on such short fields.
fn as_utf8(b: &[u8]) -> Option<&str> {
    if b.is_ascii() {
        // SAFETY: every byte is below 0x80, and an ASCII byte is a valid one-byte UTF-8 char.
        Some(unsafe { std::str::from_utf8_unchecked(b) })
    } else {
        std::str::from_utf8(b).ok()
    }
}

/// What the index thread needs from a record, read without the body CRC or a second UTF-8 pass.
#[derive(Clone, Copy, Debug)]
pub(crate) struct IndexView<'a> {
    pub store_timestamp: i64,
    /// Goes to the ConsumeQueue and index (see [`StoredMessage::is_dispatched`]).
    pub dispatched: bool,
    pub topic: &'a str,
    pub properties: &'a str,
}

/// The index fields of the record at the start of `buf`: `Some` exactly when
/// `decode_record_with(buf, false)` succeeds, so the index skips the same damaged records.
pub(crate) fn index_view(buf: &[u8]) -> Option<IndexView<'_>> {
    let m = decode_layout(buf).ok()?;
    Some(IndexView {
        store_timestamp: m.store_timestamp(),
        dispatched: m.is_dispatched(),
        topic: as_utf8(m.topic_bytes())?,
        properties: as_utf8(m.properties_bytes())?,
    })
}

/// Checks the record's size, magic and field lengths (not the CRC, not UTF-8) and locates its
/// variable fields.
fn decode_layout(buf: &[u8]) -> Result<StoredMessage<'_>, RecordError> {
    const MIN: usize = 91;
    if buf.len() < 8 {
        return Err(RecordError::Truncated {
            need: 8,
            have: buf.len(),
        });
    }
    let size = be_i32(buf, 0);
    let magic = be_u32(buf, POS_MAGIC);
    let v2 = match magic {
        MAGIC_V1 => false,
        MAGIC_V2 => true,
        MAGIC_BLANK => return Err(RecordError::Blank(size as u32)),
        other => return Err(RecordError::BadMagic(other)),
    };
    if size < MIN as i32 {
        return Err(RecordError::BadSize(size as i64));
    }
    let size = size as usize;
    if buf.len() < size {
        return Err(RecordError::Truncated {
            need: size,
            have: buf.len(),
        });
    }
    let buf = &buf[..size];
    let sys_flag = be_i32(buf, POS_SYS_FLAG);
    let born_len = if sys_flag & FLAG_BORNHOST_V6 != 0 {
        20
    } else {
        8
    };
    let store_len = if sys_flag & FLAG_STOREHOST_V6 != 0 {
        20
    } else {
        8
    };
    let store_ts_at = POS_BORN_HOST + born_len;
    let store_host_at = store_ts_at + 8;
    let tail_at = store_host_at + store_len;
    let body_len_at = tail_at + 12;
    let bad = || RecordError::BadSize(size as i64);
    if body_len_at + 4 > size {
        return Err(bad());
    }
    let body_len = be_i32(buf, body_len_at);
    if body_len < 0 {
        return Err(bad());
    }
    let body_at = body_len_at + 4;
    let body_len = body_len as usize;
    let topic_len_at = body_at.checked_add(body_len).ok_or_else(bad)?;
    let (topic_len, topic_at) = if v2 {
        if topic_len_at + 2 > size {
            return Err(bad());
        }
        let l = i16::from_be_bytes([buf[topic_len_at], buf[topic_len_at + 1]]);
        if l < 0 {
            return Err(bad());
        }
        (l as usize, topic_len_at + 2)
    } else {
        if topic_len_at + 1 > size {
            return Err(bad());
        }
        (buf[topic_len_at] as usize, topic_len_at + 1)
    };
    let props_len_at = topic_at + topic_len;
    if props_len_at + 2 > size {
        return Err(bad());
    }
    let props_len = i16::from_be_bytes([buf[props_len_at], buf[props_len_at + 1]]);
    if props_len < 0 {
        return Err(bad());
    }
    let props_at = props_len_at + 2;
    let props_len = props_len as usize;
    if props_at + props_len != size {
        return Err(bad());
    }
    Ok(StoredMessage {
        buf,
        store_ts_at,
        store_host_at,
        tail_at,
        body_at,
        body_len,
        topic_at,
        topic_len,
        props_at,
        props_len,
    })
}

fn read_host(b: &[u8], at: usize, v6: bool) -> SocketAddr {
    if v6 {
        let mut o = [0u8; 16];
        o.copy_from_slice(&b[at..at + 16]);
        SocketAddr::new(IpAddr::V6(Ipv6Addr::from(o)), be_i32(b, at + 16) as u16)
    } else {
        let ip = Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]);
        SocketAddr::new(IpAddr::V4(ip), be_i32(b, at + 4) as u16)
    }
}

impl<'a> StoredMessage<'a> {
    /// The whole record.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.buf
    }
    /// TOTALSIZE.
    pub fn total_size(&self) -> usize {
        self.buf.len()
    }
    /// MAGICCODE (V1 or V2).
    pub fn magic(&self) -> u32 {
        be_u32(self.buf, POS_MAGIC)
    }
    /// Stored BODYCRC.
    pub fn body_crc(&self) -> u32 {
        be_u32(self.buf, POS_BODY_CRC)
    }
    /// QUEUEID.
    pub fn queue_id(&self) -> i32 {
        be_i32(self.buf, POS_QUEUE_ID)
    }
    /// FLAG.
    pub fn flag(&self) -> i32 {
        be_i32(self.buf, 16)
    }
    /// QUEUEOFFSET (0 for prepared/rollback transaction records).
    pub fn queue_offset(&self) -> i64 {
        be_i64(self.buf, POS_QUEUE_OFFSET)
    }
    /// PHYSICALOFFSET: where this record starts in the CommitLog.
    pub fn phys_offset(&self) -> i64 {
        be_i64(self.buf, POS_PHYS_OFFSET)
    }
    /// SYSFLAG.
    pub fn sys_flag(&self) -> i32 {
        be_i32(self.buf, POS_SYS_FLAG)
    }
    /// BORNTIMESTAMP.
    pub fn born_timestamp(&self) -> i64 {
        be_i64(self.buf, 40)
    }
    /// BORNHOST.
    pub fn born_host(&self) -> SocketAddr {
        read_host(
            self.buf,
            POS_BORN_HOST,
            self.sys_flag() & FLAG_BORNHOST_V6 != 0,
        )
    }
    /// STORETIMESTAMP.
    pub fn store_timestamp(&self) -> i64 {
        be_i64(self.buf, self.store_ts_at)
    }
    /// STOREHOSTADDRESS.
    pub fn store_host(&self) -> SocketAddr {
        read_host(
            self.buf,
            self.store_host_at,
            self.sys_flag() & FLAG_STOREHOST_V6 != 0,
        )
    }
    /// RECONSUMETIMES.
    pub fn reconsume_times(&self) -> i32 {
        be_i32(self.buf, self.tail_at)
    }
    /// PREPARED TRANSACTION OFFSET.
    pub fn prepared_transaction_offset(&self) -> i64 {
        be_i64(self.buf, self.tail_at + 4)
    }
    /// Body bytes as stored.
    pub fn body(&self) -> &'a [u8] {
        &self.buf[self.body_at..self.body_at + self.body_len]
    }
    fn topic_bytes(&self) -> &'a [u8] {
        &self.buf[self.topic_at..self.topic_at + self.topic_len]
    }
    fn properties_bytes(&self) -> &'a [u8] {
        &self.buf[self.props_at..self.props_at + self.props_len]
    }
    /// Topic.
    pub fn topic(&self) -> &'a str {
        as_utf8(self.topic_bytes()).unwrap_or("")
    }
    /// Encoded properties string.
    pub fn properties(&self) -> &'a str {
        as_utf8(self.properties_bytes()).unwrap_or("")
    }
    /// One property value.
    pub fn property(&self, key: &str) -> Option<&'a str> {
        property_value(self.properties(), key)
    }
    /// TAGS property.
    pub fn tags(&self) -> Option<&'a str> {
        self.property("TAGS")
    }
    /// ConsumeQueue tags code of this record.
    pub fn tags_code(&self) -> i64 {
        tags_code(self.tags())
    }
    /// Whether the record goes to ConsumeQueue and index (not a prepared/rollback transaction record).
    pub fn is_dispatched(&self) -> bool {
        let tx = self.sys_flag() & FLAG_TRANSACTION_MASK;
        tx != FLAG_TRANSACTION_PREPARED && tx != FLAG_TRANSACTION_ROLLBACK
    }
}

/// Asks the CPU to start loading the cache lines of `buf[from..to]` (clipped to `buf`). A hint
/// only: it reads nothing and cannot fault. The index thread reads a few scattered lines of each
/// record, written moments before by another core; fetched one by one they are serial misses.
#[inline]
pub(crate) fn prefetch_range(buf: &[u8], from: usize, to: usize) {
    let to = to.min(buf.len());
    let mut at = from;
    while at < to {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `at < buf.len()`, so the pointer is in bounds; PREFETCHT0 has no architectural
        // effect and SSE is part of the x86_64 baseline.
        unsafe {
            use core::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            _mm_prefetch::<_MM_HINT_T0>(buf.as_ptr().add(at) as *const i8);
        }
        at = (at | 63) + 1;
    }
}

/// Reads the STORETIMESTAMP of a record header without a full decode.
pub(crate) fn peek_store_timestamp(buf: &[u8]) -> Option<i64> {
    if buf.len() < POS_BORN_HOST {
        return None;
    }
    let born_len = if be_i32(buf, POS_SYS_FLAG) & FLAG_BORNHOST_V6 != 0 {
        20
    } else {
        8
    };
    let at = POS_BORN_HOST + born_len;
    if buf.len() < at + 8 {
        return None;
    }
    Some(be_i64(buf, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_property_appends_keeps_or_replaces_one_pair() {
        let mut p = String::new();
        put_property(&mut p, "CLUSTER", "c1");
        assert_eq!(p, "CLUSTER\u{1}c1\u{2}");
        // A string without the trailing separator (some clients omit it) still gets one pair more.
        let mut p = "TAGS\u{1}a".to_string();
        put_property(&mut p, "CLUSTER", "c1");
        assert_eq!(decode_properties(&p), [("TAGS", "a"), ("CLUSTER", "c1")]);
        let before = p.clone();
        put_property(&mut p, "CLUSTER", "c1");
        assert_eq!(p, before, "the same value leaves the string alone");
        put_property(&mut p, "CLUSTER", "c2");
        assert_eq!(decode_properties(&p), [("TAGS", "a"), ("CLUSTER", "c2")]);
    }

    #[test]
    fn run_ids_are_the_offset_ids_of_each_record() {
        for host in [
            SocketAddr::from((Ipv4Addr::new(10, 1, 2, 3), 10911)),
            SocketAddr::from((Ipv6Addr::LOCALHOST, 10911)),
        ] {
            let sizes = [200usize, 1300, 77, 1];
            let first = 0x0123_4567_89AB_CDEF - 300;
            let ids = run_msg_ids(host, first, sizes);
            let mut offset = first;
            let mut want = Vec::new();
            for s in sizes {
                want.push(offset_msg_id(host, offset));
                offset += s as i64;
            }
            assert_eq!(ids, want.join(","));
        }
        assert_eq!(
            run_msg_ids(SocketAddr::from((Ipv4Addr::LOCALHOST, 1)), 0, []),
            ""
        );
    }

    fn sample(topic: &str) -> MessageToStore {
        let mut m = MessageToStore::new(topic, 3, &b"hello body"[..]);
        m.flag = 7;
        m.properties = encode_properties(&[("TAGS", "TagA"), ("KEYS", "k1 k2")]);
        m.born_timestamp = 1_700_000_000_000;
        m.born_host = "10.0.0.1:5555".parse().unwrap();
        m.reconsume_times = 2;
        m
    }

    #[test]
    fn java_hash_matches_java() {
        assert_eq!(java_string_hash("TagA"), 2598919);
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("hello"), 99162322);
        // Overflow wraps like Java int arithmetic.
        assert_eq!(java_string_hash("polygenelubricants"), i32::MIN);
        // A supplementary character counts as two UTF-16 units: "😀" = \uD83D\uDE00.
        assert_eq!(java_string_hash("😀"), 0xD83D * 31 + 0xDE00);
        assert_eq!(tags_code(Some("TagA")), 2598919);
        assert_eq!(tags_code(None), 0);
    }

    #[test]
    fn properties_round_trip() {
        let s = encode_properties(&[("TAGS", "a"), ("KEYS", "x y"), ("UNIQ_KEY", "ABC")]);
        assert_eq!(s, "TAGS\u{1}a\u{2}KEYS\u{1}x y\u{2}UNIQ_KEY\u{1}ABC\u{2}");
        assert_eq!(
            decode_properties(&s),
            vec![("TAGS", "a"), ("KEYS", "x y"), ("UNIQ_KEY", "ABC")]
        );
        assert_eq!(property_value(&s, "KEYS"), Some("x y"));
        assert_eq!(property_value(&s, "NOPE"), None);
        assert_eq!(property_value(&s, "TAG"), None);
        assert_eq!(property_value("K\u{1}1\u{2}K\u{1}2\u{2}", "K"), Some("2"));
        assert_eq!(property_value("K\u{1}\u{2}", "K"), None);
        assert_eq!(property_value("K\u{1}v", "K"), Some("v"));
        // Java leniency: short segments and empty values are skipped.
        assert_eq!(
            decode_properties("a\u{2}K\u{1}\u{2}KK\u{1}v"),
            vec![("KK", "v")]
        );
    }

    #[test]
    fn v1_ipv4_round_trip_and_layout() {
        let m = sample("TopicTest");
        let store: SocketAddr = "10.0.0.1:10911".parse().unwrap();
        let rec = encode_record(&m, 42, 1000, 1_700_000_000_500, store);
        assert_eq!(rec.len(), 91 + 10 + 9 + m.properties.len());
        assert_eq!(be_u32(&rec, 4), MAGIC_V1);
        assert_eq!(be_i64(&rec, 20), 42);
        assert_eq!(be_i64(&rec, 28), 1000);
        assert_eq!(be_i64(&rec, 56), 1_700_000_000_500);
        let d = decode_record(&rec).unwrap();
        assert_eq!(d.topic(), "TopicTest");
        assert_eq!(d.queue_id(), 3);
        assert_eq!(d.flag(), 7);
        assert_eq!(d.queue_offset(), 42);
        assert_eq!(d.phys_offset(), 1000);
        assert_eq!(d.body(), b"hello body");
        assert_eq!(d.born_host(), m.born_host);
        assert_eq!(d.store_host(), store);
        assert_eq!(d.store_timestamp(), 1_700_000_000_500);
        assert_eq!(d.born_timestamp(), m.born_timestamp);
        assert_eq!(d.reconsume_times(), 2);
        assert_eq!(d.tags(), Some("TagA"));
        assert_eq!(d.tags_code(), 2598919);
        assert_eq!(d.property("KEYS"), Some("k1 k2"));
        assert_eq!(d.sys_flag() & (FLAG_BORNHOST_V6 | FLAG_STOREHOST_V6), 0);
        assert_eq!(peek_store_timestamp(&rec), Some(1_700_000_000_500));
    }

    #[test]
    fn ipv6_hosts_set_flags_and_round_trip() {
        let mut m = sample("T6");
        m.born_host = "[2001:db8::1]:4000".parse().unwrap();
        let store: SocketAddr = "[::1]:10911".parse().unwrap();
        let rec = encode_record(&m, 1, 2, 3, store);
        assert_eq!(rec.len(), 91 + 24 + 10 + 2 + m.properties.len());
        let d = decode_record(&rec).unwrap();
        assert_eq!(d.sys_flag() & FLAG_BORNHOST_V6, FLAG_BORNHOST_V6);
        assert_eq!(d.sys_flag() & FLAG_STOREHOST_V6, FLAG_STOREHOST_V6);
        assert_eq!(d.born_host(), m.born_host);
        assert_eq!(d.store_host(), store);
        assert_eq!(d.store_timestamp(), 3);
        assert_eq!(peek_store_timestamp(&rec), Some(3));
        assert_eq!(d.topic(), "T6");
    }

    #[test]
    fn long_topic_uses_v2() {
        let topic = "t".repeat(200);
        let m = sample(&topic);
        let rec = encode_record(&m, 0, 0, 0, "1.2.3.4:5".parse().unwrap());
        assert_eq!(be_u32(&rec, 4), MAGIC_V2);
        assert_eq!(decode_record(&rec).unwrap().topic(), topic);
        let short = encode_record(
            &sample(&"t".repeat(127)),
            0,
            0,
            0,
            "1.2.3.4:5".parse().unwrap(),
        );
        assert_eq!(be_u32(&short, 4), MAGIC_V1);
    }

    #[test]
    fn decode_errors_are_typed() {
        let m = sample("T");
        let mut rec = encode_record(&m, 0, 0, 0, "1.2.3.4:5".parse().unwrap());
        assert!(matches!(
            decode_record(&rec[..50]),
            Err(RecordError::Truncated { .. })
        ));
        let body_at = rec.len() - m.properties.len() - 2 - 1 - 1 - 1;
        rec[body_at] ^= 0xFF;
        assert!(matches!(
            decode_record(&rec),
            Err(RecordError::CrcMismatch { .. })
        ));
        assert!(decode_record_with(&rec, false).is_ok());
        rec[4] = 0;
        assert!(matches!(decode_record(&rec), Err(RecordError::BadMagic(_))));
        let mut blank = vec![0u8; 16];
        blank[..4].copy_from_slice(&16i32.to_be_bytes());
        blank[4..8].copy_from_slice(&MAGIC_BLANK.to_be_bytes());
        assert_eq!(decode_record(&blank).unwrap_err(), RecordError::Blank(16));
        assert_eq!(peek_head(&blank), RecordHead::Blank(16));
        assert_eq!(peek_head(&[0u8; 8]), RecordHead::End);
        let mut small = encode_record(&m, 0, 0, 0, "1.2.3.4:5".parse().unwrap());
        small[..4].copy_from_slice(&10i32.to_be_bytes());
        assert!(matches!(
            decode_record(&small),
            Err(RecordError::BadSize(10))
        ));
    }

    proptest::proptest! {
        /// Arbitrary bytes, and valid records with arbitrary bytes overwritten, never panic the
        /// decoder; whatever decodes is self-consistent.
        #[test]
        fn decode_never_panics(
            junk in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400),
            at in 0usize..300,
            with in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..16),
        ) {
            let _ = decode_record(&junk);
            let _ = peek_head(&junk);
            let _ = peek_store_timestamp(&junk);
            let mut rec = encode_record(&sample("FuzzTopic"), 1, 2, 3, "[::1]:9".parse().unwrap());
            for (i, b) in with.iter().enumerate() {
                if let Some(x) = rec.get_mut(at + i) {
                    *x = *b;
                }
            }
            if let Ok(m) = decode_record_with(&rec, false) {
                proptest::prop_assert!(m.total_size() <= rec.len());
                let _ = (m.topic(), m.properties(), m.body(), m.born_host(), m.store_host(), m.tags_code());
            }
            let _ = decode_properties(std::str::from_utf8(&junk).unwrap_or(""));
        }
    }

    /// Java's definition, unit by unit: the reference the fast hash must match.
    fn java_hash_reference(s: &str) -> i32 {
        s.encode_utf16()
            .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(u as i32))
    }

    /// The id as first written: the raw bytes, each as two uppercase hex digits.
    fn offset_msg_id_reference(host: SocketAddr, phys: i64) -> String {
        let mut raw = match host.ip() {
            IpAddr::V4(ip) => ip.octets().to_vec(),
            IpAddr::V6(ip) => ip.octets().to_vec(),
        };
        raw.extend_from_slice(&(host.port() as i32).to_be_bytes());
        raw.extend_from_slice(&phys.to_be_bytes());
        raw.iter().map(|b| format!("{b:02X}")).collect()
    }

    /// `property_value` as `properties_iter` defines it: the last matching pair wins.
    fn property_reference<'a>(props: &'a str, key: &str) -> Option<&'a str> {
        properties_iter(props)
            .filter(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .last()
    }

    #[test]
    fn fast_java_hash_handles_ascii_runs_and_other_chars() {
        for s in [
            "",
            "a",
            "abcdefg",
            "abcdefgh",
            "abcdefghi",
            "CourierBench#0A00000100002A9F00000000000A1B2C",
            "é",
            "12345678é12345678",
            "1234567😀89abcdef",
            "ééééééééééééééééé",
            "polygenelubricants",
        ] {
            assert_eq!(java_string_hash(s), java_hash_reference(s), "{s:?}");
        }
        assert_eq!(
            java_hash_continue(java_string_hash("T#"), "key"),
            java_string_hash("T#key")
        );
    }

    #[test]
    fn property_values_finds_each_key_in_one_pass() {
        let s = encode_properties(&[("TAGS", "a"), ("KEYS", "x y"), ("UNIQ_KEY", "U1")]);
        assert_eq!(
            property_values(&s, ["KEYS", "UNIQ_KEY", "NOPE", ""]),
            [Some("x y"), Some("U1"), None, None]
        );
        // A key that is a prefix of another, a repeated key, an empty value.
        let s = "KEYS2\u{1}no\u{2}KEYS\u{1}first\u{2}KEYS\u{1}second\u{2}UNIQ_KEY\u{1}\u{2}";
        assert_eq!(
            property_values(s, ["KEYS", "UNIQ_KEY"]),
            [Some("second"), None]
        );
    }

    #[test]
    fn as_utf8_takes_ascii_and_other_utf8_and_refuses_the_rest() {
        assert_eq!(as_utf8(b"plain"), Some("plain"));
        assert_eq!(as_utf8("Tópico😀".as_bytes()), Some("Tópico😀"));
        assert_eq!(as_utf8(b""), Some(""));
        assert_eq!(as_utf8(b"abc\xFF"), None);
        assert_eq!(as_utf8(b"\xC3"), None);
        let m = sample("Tópico");
        let rec = encode_record(&m, 0, 0, 0, "1.2.3.4:5".parse().unwrap());
        assert_eq!(decode_record(&rec).unwrap().topic(), "Tópico");
        assert_eq!(index_view(&rec).unwrap().topic, "Tópico");
    }

    #[test]
    fn index_view_reads_what_decode_reads_and_rejects_bad_utf8() {
        let m = sample("TopicTest");
        let rec = encode_record(
            &m,
            1,
            2,
            1_700_000_000_500,
            "10.0.0.1:10911".parse().unwrap(),
        );
        let v = index_view(&rec).unwrap();
        assert_eq!(v.topic, "TopicTest");
        assert_eq!(v.properties, m.properties);
        assert_eq!(v.store_timestamp, 1_700_000_000_500);
        assert!(v.dispatched);
        // A byte that is not UTF-8 in a property value (or the topic): not indexed, as the
        // lookup's decode would reject the record anyway.
        let props_at = rec.len() - m.properties.len();
        for at in [props_at + 6, props_at - 3] {
            let mut bad = rec.clone();
            bad[at] = 0xFF;
            assert!(decode_record_with(&bad, false).is_err());
            assert!(index_view(&bad).is_none());
        }
        let mut half = sample("T");
        half.sys_flag = FLAG_TRANSACTION_PREPARED;
        let rec = encode_record(&half, 0, 0, 0, "1.2.3.4:5".parse().unwrap());
        assert!(!index_view(&rec).unwrap().dispatched);
        // Prefetch hints clip to the slice.
        prefetch_range(&rec, 0, usize::MAX);
        prefetch_range(&rec, rec.len() + 10, rec.len() + 500);
        prefetch_range(&[], 0, 64);
    }

    proptest::proptest! {
        /// The ASCII-run hash equals Java's unit-by-unit hash on any string, and continuing a
        /// hash equals hashing the concatenation.
        #[test]
        fn java_hash_matches_reference(a in "\\PC{0,40}", b in "[ -~é😀]{0,40}") {
            proptest::prop_assert_eq!(java_string_hash(&a), java_hash_reference(&a));
            proptest::prop_assert_eq!(java_string_hash(&b), java_hash_reference(&b));
            let ab = format!("{a}{b}");
            proptest::prop_assert_eq!(java_hash_continue(java_string_hash(&a), &b), java_hash_reference(&ab));
        }

        /// The offset message id is byte-identical to the original formula.
        #[test]
        fn offset_msg_id_matches_reference(
            v4 in proptest::prelude::any::<[u8; 4]>(),
            v6 in proptest::prelude::any::<[u8; 16]>(),
            port in proptest::prelude::any::<u16>(),
            phys in proptest::prelude::any::<i64>(),
        ) {
            for host in [
                SocketAddr::new(IpAddr::V4(Ipv4Addr::from(v4)), port),
                SocketAddr::new(IpAddr::V6(Ipv6Addr::from(v6)), port),
            ] {
                let id = offset_msg_id(host, phys);
                proptest::prop_assert_eq!(&id, &offset_msg_id_reference(host, phys));
                let joined = offset_msg_ids(host, [phys, phys.wrapping_add(1)]);
                proptest::prop_assert_eq!(joined, format!("{id},{}", offset_msg_id_reference(host, phys.wrapping_add(1))));
            }
        }

        /// One-pass lookups agree with the iterator's decode on arbitrary property strings.
        #[test]
        fn property_values_match_reference(props in "[KEYSUNIQ_ab \\x01\\x02é]{0,60}") {
            let keys = ["KEYS", "UNIQ_KEY", "K", "a"];
            let got = property_values(&props, keys);
            for (k, v) in keys.iter().zip(got) {
                proptest::prop_assert_eq!(v, property_reference(&props, k), "key {:?}", k);
                proptest::prop_assert_eq!(property_value(&props, k), v);
            }
        }

        /// The index's light decode accepts exactly the records the full decode (without CRC)
        /// accepts, whatever bytes are overwritten (including non-UTF-8 ones), and agrees on them.
        #[test]
        fn index_view_agrees_with_decode(
            at in 0usize..200,
            with in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..8),
        ) {
            let mut rec = encode_record(&sample("IdxTopic"), 1, 2, 3, "10.1.2.3:9".parse().unwrap());
            for (i, b) in with.iter().enumerate() {
                if let Some(x) = rec.get_mut(at + i) {
                    *x = *b;
                }
            }
            match (decode_record_with(&rec, false), index_view(&rec)) {
                (Ok(m), Some(v)) => {
                    proptest::prop_assert_eq!(m.topic(), v.topic);
                    proptest::prop_assert_eq!(m.properties(), v.properties);
                    proptest::prop_assert_eq!(m.store_timestamp(), v.store_timestamp);
                    proptest::prop_assert_eq!(m.is_dispatched(), v.dispatched);
                }
                (Err(_), None) => {}
                (d, v) => proptest::prop_assert!(false, "decode {:?} but index view {:?}", d.is_ok(), v.is_some()),
            }
        }
    }

    #[test]
    fn offset_msg_id_matches_spec_example() {
        let host: SocketAddr = "10.0.0.1:10911".parse().unwrap();
        let id = offset_msg_id(host, 0x0A1B2C);
        assert_eq!(id, "0A00000100002A9F00000000000A1B2C");
        assert_eq!(decode_offset_msg_id(&id), Some((host, 0x0A1B2C)));
        let v6: SocketAddr = "[::1]:10911".parse().unwrap();
        let id6 = offset_msg_id(v6, 5);
        assert_eq!(id6.len(), 56);
        assert_eq!(decode_offset_msg_id(&id6), Some((v6, 5)));
    }
}
