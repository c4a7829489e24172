//! Courier's message store: an append-only CommitLog holding every message of every topic,
//! per-queue ConsumeQueues and IndexFiles derived from it, all in RocketMQ's on-disk format.
//! See `docs/store.md` for the file layouts and the invariants this crate keeps.

mod allocator;
mod at_once;
mod checkpoint;
mod commitlog;
mod config;
mod consume_queue;
mod error;
mod flush;
mod index;
mod mapped_file;
mod message;
mod prefault;
mod put_latency;
mod recovery;
mod retention;
mod stage;
mod store;
#[cfg(test)]
mod test_util;
mod verify;
mod write_behind;

pub use checkpoint::{Checkpoint, CHECKPOINT_SIZE};
pub use config::{FlushDiskType, StoreConfig, MAX_COMMIT_INTERVAL};
pub use consume_queue::{CqEntry, CQ_ENTRY_SIZE, LOST_ENTRY_PHYS};
pub use error::{RecordError, StoreError};
pub use message::{
    body_crc, decode_offset_msg_id, decode_properties, decode_record, decode_record_with,
    encode_properties, encode_record, java_hash_continue, java_string_hash, offset_msg_id,
    offset_msg_ids, properties_iter, property_value, property_values, put_property, tags_code,
    MessageRef, MessageToStore, StoredMessage, FLAG_BORNHOST_V6, FLAG_STOREHOST_V6,
    FLAG_TRANSACTION_COMMIT, FLAG_TRANSACTION_MASK, FLAG_TRANSACTION_PREPARED,
    FLAG_TRANSACTION_ROLLBACK, MAGIC_BLANK, MAGIC_V1, MAGIC_V2,
};
pub use put_latency::{PutLatencySnapshot, BAND_LABELS, BUCKET_BOUNDS_US};
pub use recovery::{CorruptRecord, RecoveryReport};
pub use store::{
    ArrivalListener, GetResult, GetStatus, MessageStore, PropertiesFilter, PutResult, PutStatus,
    MAX_SCAN_ENTRIES_FILTERED,
};
pub use write_behind::WriteBehindStats;
