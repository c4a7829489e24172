//! Courier's message store: an append-only CommitLog holding every message of every topic,
//! per-queue ConsumeQueues and IndexFiles derived from it, all in RocketMQ's on-disk format.
//! See `docs/store.md` for the file layouts and the invariants this crate keeps.
