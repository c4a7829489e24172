//! Helpers shared by the store's integration tests (included with `mod common_util;`).
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use courier_store::{encode_properties, MessageToStore, StoreConfig};

/// A small-file configuration so tests roll segments, CQ files and index files often.
pub fn small_config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commitlog_file_size = 64 * 1024;
    c.cq_entries_per_file = 64;
    c.index_slots = 64;
    c.index_entries = 256;
    c.flush_interval = Duration::from_millis(20);
    c.max_message_size = 16 * 1024;
    c.disk_space_warning_level_ratio = 100;
    c.disk_max_used_space_ratio = 95;
    // Four 64 KiB chunks: tests run the write-behind ring round many times (reuse, back-pressure).
    c.write_buffer_bytes = 256 * 1024;
    c
}

/// A message with a TAGS and KEYS property.
pub fn msg(topic: &str, queue: i32, body: Vec<u8>, tag: &str, key: &str) -> MessageToStore {
    let mut m = MessageToStore::new(topic, queue, body);
    m.properties = encode_properties(&[("TAGS", tag), ("KEYS", key)]);
    m
}
