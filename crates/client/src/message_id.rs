//! Message ids (fact sheet §4.6).
//!
//! - Offset id: store host IP + port (i32) + commit-log offset (i64), upper hex.
//! - UNIQ_KEY (client id): client IP (4 or 16 bytes) + pid (i16) + a per-process
//!   random i32 (Java uses its classloader's hash) + ms since the start of the
//!   current month (i32) + a counter (i16), upper hex: 32 chars for IPv4. Java
//!   computes the month start in local time; this uses UTC, which only shifts
//!   the time field and keeps ids unique.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::civil::{civil_from_days, days_from_civil};

/// The offset message id of a record stored at `offset` on `store_host`.
pub fn offset_msg_id(store_host: SocketAddr, offset: i64) -> String {
    let mut bytes = Vec::with_capacity(28);
    match store_host.ip() {
        IpAddr::V4(ip) => bytes.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => bytes.extend_from_slice(&ip.octets()),
    }
    bytes.extend_from_slice(&i32::from(store_host.port()).to_be_bytes());
    bytes.extend_from_slice(&offset.to_be_bytes());
    hex_upper(&bytes)
}

/// The store host and CommitLog offset an offset message id names (what [`offset_msg_id`] makes:
/// 32 hex digits for an IPv4 host, 56 for IPv6, either case); `None` for anything else, a client
/// (UNIQ_KEY) id included: its port field holds the client's pid, which no port's top bits do.
pub fn decode_offset_msg_id(id: &str) -> Option<(SocketAddr, i64)> {
    let ip_len = match id.len() {
        32 => 4,
        56 => 16,
        _ => return None,
    };
    let mut bytes = [0u8; 28];
    let bytes = &mut bytes[..id.len() / 2];
    let nibble = |c: u8| char::from(c).to_digit(16);
    for (b, pair) in bytes.iter_mut().zip(id.as_bytes().chunks_exact(2)) {
        *b = (nibble(pair[0])? << 4 | nibble(pair[1])?) as u8;
    }
    let (ip, rest) = bytes.split_at(ip_len);
    let ip = match <[u8; 4]>::try_from(ip) {
        Ok(v4) => IpAddr::from(v4),
        Err(_) => IpAddr::from(<[u8; 16]>::try_from(ip).ok()?),
    };
    let port = i32::from_be_bytes(rest[..4].try_into().ok()?);
    let port = u16::try_from(port).ok().filter(|p| *p != 0)?;
    let offset = i64::from_be_bytes(rest[4..].try_into().ok()?);
    (offset >= 0).then_some((SocketAddr::new(ip, port), offset))
}

fn hex_upper(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xF) as usize] as char);
    }
    s
}

/// Generates UNIQ_KEY ids for one client IP.
#[derive(Debug)]
pub struct UniqIdGenerator {
    /// Hex of IP + pid + random, fixed for the process.
    prefix: String,
    counter: AtomicU16,
}

fn process_random() -> i32 {
    static R: OnceLock<i32> = OnceLock::new();
    *R.get_or_init(rand::random::<i32>)
}

impl UniqIdGenerator {
    pub fn new(ip: IpAddr) -> Self {
        let mut bytes = Vec::with_capacity(22);
        match ip {
            IpAddr::V4(ip) => bytes.extend_from_slice(&ip.octets()),
            IpAddr::V6(ip) => bytes.extend_from_slice(&ip.octets()),
        }
        bytes.extend_from_slice(&(std::process::id() as i16).to_be_bytes());
        bytes.extend_from_slice(&process_random().to_be_bytes());
        UniqIdGenerator {
            prefix: hex_upper(&bytes),
            counter: AtomicU16::new(rand::random::<u16>()),
        }
    }

    /// A fresh id.
    pub fn next_id(&self) -> String {
        let mut s = String::with_capacity(self.prefix.len() + 12);
        self.push_next_id(&mut s);
        s
    }

    /// Appends a fresh id to `out` (a batch builds its ids and properties without a string per id).
    pub fn push_next_id(&self, out: &mut String) {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        self.push_id_at(out, now_ms);
    }

    /// A fresh id for a message created at `now_ms` (Unix ms): a sender that reads the clock for
    /// the message's born timestamp anyway passes it in instead of reading it twice.
    pub fn id_at(&self, now_ms: i64) -> String {
        let mut s = String::with_capacity(self.prefix.len() + 12);
        self.push_id_at(&mut s, now_ms);
        s
    }

    fn push_id_at(&self, out: &mut String, now_ms: i64) {
        let since_month = (now_ms - month_start_ms(now_ms)) as i32;
        let count = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut tail = [0u8; 6];
        tail[..4].copy_from_slice(&since_month.to_be_bytes());
        tail[4..].copy_from_slice(&count.to_be_bytes());
        let mut hex = [0u8; 12];
        push_hex(&tail, &mut hex);
        out.push_str(&self.prefix);
        out.extend(hex.iter().map(|&d| char::from(d)));
    }

    /// The time part of ids made at `now_ms` (Unix ms), rendered once: a batch stamps all its
    /// messages with one clock read and one calendar computation.
    pub fn clock_at(&self, now_ms: i64) -> IdClock {
        let since_month = (now_ms - month_start_ms(now_ms)) as i32;
        let mut hex = [0u8; 8];
        push_hex(&since_month.to_be_bytes(), &mut hex);
        let mut head = String::with_capacity(self.prefix.len() + hex.len());
        head.push_str(&self.prefix);
        head.extend(hex.iter().map(|&d| char::from(d)));
        IdClock { head }
    }

    /// Appends a fresh id whose time part is `clock`; ids stay unique through the counter.
    pub fn push_id_with(&self, out: &mut String, clock: &IdClock) {
        let count = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut hex = [0u8; 4];
        push_hex(&count.to_be_bytes(), &mut hex);
        out.reserve(clock.head.len() + hex.len());
        out.push_str(&clock.head);
        out.extend(hex.iter().map(|&d| char::from(d)));
    }
}

/// Everything but the counter of UNIQ_KEY ids made at one instant, rendered once (see
/// [`UniqIdGenerator::clock_at`]).
#[derive(Debug, Clone)]
pub struct IdClock {
    /// Hex of IP + pid + random + ms into the month.
    head: String,
}

/// Writes `bytes` as upper-case hex into `out` (twice as long).
fn push_hex(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    for (b, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[(b >> 4) as usize];
        pair[1] = DIGITS[(b & 0xF) as usize];
    }
}

/// Unix ms of 00:00 UTC on the first day of the month containing `ms`.
fn month_start_ms(ms: i64) -> i64 {
    let days = ms.div_euclid(86_400_000);
    let (y, m, _) = civil_from_days(days);
    days_from_civil(y, m, 1) * 86_400_000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_id_matches_the_fact_sheet_example() {
        let host: SocketAddr = "10.0.0.1:10911".parse().unwrap();
        assert_eq!(
            offset_msg_id(host, 0x0A1B2C),
            "0A00000100002A9F00000000000A1B2C"
        );
    }

    #[test]
    fn offset_ids_decode_to_their_host_and_offset() {
        for host in ["10.0.0.1:10911", "[::1]:10911"] {
            let host: SocketAddr = host.parse().unwrap();
            let id = offset_msg_id(host, 0x0123_4567_89AB);
            assert_eq!(decode_offset_msg_id(&id), Some((host, 0x0123_4567_89AB)));
            assert_eq!(
                decode_offset_msg_id(&id.to_ascii_lowercase()),
                Some((host, 0x0123_4567_89AB))
            );
        }
        // Wrong length, not hex, port 0 or beyond u16, negative offset.
        for bad in [
            "0",
            "0A00000100002A9F00000000000A1B2",
            "0A00000100002A9F00000000000A1BZZ",
            "0A0000010000000000000000000A1B2C",
            "0A00000100012A9F00000000000A1B2C",
            "0A00000100002A9F80000000000A1B2C",
            "0A00000100002A9F00000000000A1B\u{e9}",
            "0A00000100002A9F00000000000A1B+F",
        ] {
            assert_eq!(decode_offset_msg_id(bad), None, "{bad}");
        }
        // A client id (UNIQ_KEY) carries the pid where the port's top bits would be.
        let g = UniqIdGenerator::new("127.0.0.1".parse().unwrap());
        if std::process::id() as i16 != 0 {
            assert_eq!(decode_offset_msg_id(&g.next_id()), None);
        }
    }

    #[test]
    fn uniq_ids_have_the_ipv4_layout_and_differ() {
        let g = UniqIdGenerator::new("127.0.0.1".parse().unwrap());
        let a = g.next_id();
        let b = g.next_id();
        assert_eq!(a.len(), 32);
        assert!(a.starts_with("7F000001"));
        assert_ne!(a, b);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
    }

    #[test]
    fn ids_at_a_given_time_carry_its_offset_into_the_month() {
        let g = UniqIdGenerator::new("127.0.0.1".parse().unwrap());
        // 2023-11-14T22:13:20Z: 13 days, 22 h, 13 min, 20 s into November.
        let t = 1_700_000_000_000i64;
        let since_month = ((13 * 24 + 22) * 3600 + 13 * 60 + 20) * 1000;
        let id = g.id_at(t);
        assert_eq!(&id[20..28], format!("{since_month:08X}"));
        assert_ne!(g.id_at(t), id, "the counter still makes ids unique");
    }

    #[test]
    fn ids_from_one_clock_are_what_id_at_makes_with_consecutive_counters() {
        let g = UniqIdGenerator::new("10.1.2.3".parse().unwrap());
        let t = 1_700_000_000_000i64;
        let single = g.id_at(t);
        let clock = g.clock_at(t);
        let mut out = String::new();
        g.push_id_with(&mut out, &clock);
        out.push(',');
        g.push_id_with(&mut out, &clock);
        let ids: Vec<&str> = out.split(',').collect();
        let counter = |id: &str| u16::from_str_radix(&id[28..], 16).unwrap();
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(id.len(), 32);
            assert_eq!(id[..28], single[..28], "same host, process and time fields");
            assert_eq!(counter(id), counter(&single).wrapping_add(1 + i as u16));
        }
    }

    #[test]
    fn month_start_is_the_first_of_the_month() {
        // 2026-11-25T18:00:00Z → 2026-11-01T00:00:00Z.
        assert_eq!(month_start_ms(1_795_629_600_000), 1_793_491_200_000);
        assert_eq!(month_start_ms(1_793_491_200_000), 1_793_491_200_000);
    }
}
