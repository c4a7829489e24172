//! Fuzz target `pull_body`: the client's decoder of PULL response bodies (stored records, as the
//! broker sends them), which reads whatever a broker, ours or another, puts on the wire.
//!
//! An input whose first byte is even is a body as it comes. An odd first byte builds a record
//! with the store's own encoder from the next 64 bytes (topic, body, properties, queue and host
//! fields), which the decoder must read back field for field, and then damages it with the
//! remaining bytes taken as (position, value) pairs. Nothing may panic, and a body that decodes
//! must account for every byte of it.
#![no_main]

use std::net::SocketAddr;

use courier_client::{decode_message, decode_messages};
use courier_store::{encode_properties, encode_record, MessageToStore};
use libfuzzer_sys::fuzz_target;

fn check(body: &[u8]) {
    if let Ok(msgs) = decode_messages(body) {
        let total: usize = msgs.iter().map(|m| m.store_size as usize).sum();
        assert_eq!(total, body.len(), "decoded records must cover the body");
    }
}

fn byte(f: &[u8], i: usize) -> u8 {
    f.get(i).copied().unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        check(rest);
        return;
    }
    let (fields, damage) = rest.split_at(rest.len().min(64));
    let topic: String = fields
        .iter()
        .take(byte(fields, 0) as usize % 24 + 1)
        .map(|b| char::from(b'a' + b % 26))
        .collect();
    let keys = format!("k{}", byte(fields, 1));
    let tags = format!("T{}", byte(fields, 2) % 4);
    let mut m = MessageToStore::new(topic, i32::from(byte(fields, 3) % 16), fields.to_vec());
    m.properties = encode_properties(&[("KEYS", keys.as_str()), ("TAGS", tags.as_str())]);
    m.flag = i32::from(byte(fields, 4));
    m.reconsume_times = i32::from(byte(fields, 5) % 17);
    // Never the compressed bit: the body here is not zlib, and that case is the damage's job.
    m.sys_flag = i32::from(byte(fields, 6) & 0x0c);
    let v6 = byte(fields, 7) & 1 == 1;
    m.born_host = if v6 {
        "[fe80::1]:1234".parse().unwrap()
    } else {
        "10.0.0.7:1234".parse().unwrap()
    };
    let store_host: SocketAddr = if byte(fields, 8) & 1 == 1 {
        "[::1]:10911".parse().unwrap()
    } else {
        "127.0.0.1:10911".parse().unwrap()
    };
    let queue_offset = i64::from(byte(fields, 9)) << 20;
    let phys = i64::from(byte(fields, 10)) << 30;
    let rec = encode_record(&m, queue_offset, phys, 1_700_000_000_000, store_host);

    let (got, size) = decode_message(&rec).expect("a record the store encoded must decode");
    assert_eq!(size, rec.len());
    assert_eq!(got.topic, m.topic);
    assert_eq!(got.queue_id, m.queue_id);
    assert_eq!(got.queue_offset, queue_offset);
    assert_eq!(got.commit_log_offset, phys);
    assert_eq!(got.flag, m.flag);
    assert_eq!(got.reconsume_times, m.reconsume_times);
    assert_eq!(got.born_host, m.born_host);
    assert_eq!(got.store_host, store_host);
    assert_eq!(&got.body[..], &m.body[..]);
    assert_eq!(got.properties.get("KEYS"), Some(&keys));
    assert_eq!(got.properties.get("TAGS"), Some(&tags));

    let mut damaged = rec;
    for pair in damage.chunks_exact(3) {
        let at = usize::from(u16::from_le_bytes([pair[0], pair[1]])) % damaged.len();
        damaged[at] = pair[2];
    }
    check(&damaged);
    // Two records back to back, the second damaged, as a pull body carries them.
    let mut two = encode_record(&m, queue_offset, phys, 1_700_000_000_000, store_host);
    two.extend_from_slice(&damaged);
    check(&two);
});
