//! QUERY_MESSAGE semantics of the IndexFile through the public API: every space-separated word of
//! KEYS and the UNIQ_KEY find their message, empty words and other topics' keys do not, and
//! non-ASCII keys are hashed like Java strings (the index thread hashes `topic#key` without
//! building it, so a wrong hash shows up here as a missed key).

use std::path::Path;

use courier_store::{
    decode_record, encode_properties, MessageStore, MessageToStore, PutStatus, StoreConfig,
};

fn config(dir: &Path) -> StoreConfig {
    let mut c = StoreConfig::new(dir);
    c.commitlog_file_size = 64 * 1024;
    c.cq_entries_per_file = 64;
    // Few slots: many keys share a slot, so lookups walk chains and must compare hashes.
    c.index_slots = 7;
    c.index_entries = 200;
    c
}

fn message(topic: &str, body: &[u8], props: &[(&str, &str)]) -> MessageToStore {
    let mut m = MessageToStore::new(topic, 0, body.to_vec());
    m.properties = encode_properties(props);
    m
}

fn bodies(store: &MessageStore, topic: &str, key: &str) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = store
        .query_by_key(topic, key, 32, 0, i64::MAX)
        .iter()
        .map(|b| decode_record(b).unwrap().body().to_vec())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn every_key_word_and_uniq_key_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = MessageStore::open(config(dir.path())).unwrap();
    let puts = [
        message("Orders", b"m1", &[("KEYS", "a b  c "), ("UNIQ_KEY", "U1")]),
        message("Orders", b"m2", &[("KEYS", "b"), ("TAGS", "t")]),
        message("Orders", b"m3", &[("KEYS", ""), ("UNIQ_KEY", "U3")]),
        message("Orders", b"m4", &[("KEYS", "clé 😀"), ("UNIQ_KEY", "")]),
        message("Pays", b"p1", &[("KEYS", "a"), ("UNIQ_KEY", "U1")]),
        message("Tópico", b"t1", &[("KEYS", "ключ")]),
    ];
    for m in puts {
        assert_eq!(store.put(m).await.status, PutStatus::PutOk);
    }
    // A batch: each member's keys are indexed at its own offset.
    let batch: Vec<MessageToStore> = (0..40)
        .map(|i| {
            let uniq = format!("B{i:04}");
            message(
                "Orders",
                format!("b{i}").as_bytes(),
                &[("UNIQ_KEY", &uniq), ("KEYS", "batch")],
            )
        })
        .collect();
    assert_eq!(store.put_batch(batch).await.status, PutStatus::PutOk);

    let b = |s: &str| s.as_bytes().to_vec();
    assert_eq!(bodies(&store, "Orders", "a"), vec![b("m1")]);
    assert_eq!(bodies(&store, "Orders", "b"), vec![b("m1"), b("m2")]);
    assert_eq!(bodies(&store, "Orders", "c"), vec![b("m1")]);
    assert_eq!(bodies(&store, "Orders", "U1"), vec![b("m1")]);
    assert_eq!(bodies(&store, "Orders", "U3"), vec![b("m3")]);
    assert_eq!(bodies(&store, "Orders", "clé"), vec![b("m4")]);
    assert_eq!(bodies(&store, "Orders", "😀"), vec![b("m4")]);
    assert_eq!(bodies(&store, "Pays", "a"), vec![b("p1")]);
    assert_eq!(bodies(&store, "Pays", "U1"), vec![b("p1")]);
    assert_eq!(bodies(&store, "Tópico", "ключ"), vec![b("t1")]);
    assert_eq!(bodies(&store, "Orders", "B0017"), vec![b("b17")]);
    assert_eq!(bodies(&store, "Orders", "batch").len(), 32);
    // Not keys: an empty word, a whole KEYS value with its spaces, a prefix, another topic.
    for (topic, key) in [
        ("Orders", ""),
        ("Orders", "a b  c "),
        ("Orders", "cl"),
        ("Orders", "p1"),
        ("Pays", "b"),
        ("Nope", "a"),
    ] {
        assert!(bodies(&store, topic, key).is_empty(), "{topic}/{key:?}");
    }
    store.shutdown().unwrap();
    drop(store);

    // The index files on disk answer the same after a restart.
    let store = MessageStore::open(config(dir.path())).unwrap();
    assert_eq!(bodies(&store, "Orders", "c"), vec![b("m1")]);
    assert_eq!(bodies(&store, "Orders", "😀"), vec![b("m4")]);
    assert_eq!(bodies(&store, "Orders", "B0039"), vec![b("b39")]);
}
