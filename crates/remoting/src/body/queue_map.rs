//! Maps keyed by message queue, as Java's fastjson writes them: an object used as a map key is
//! written as the object itself, `{{"brokerName":"b","queueId":0,"topic":"t"}:{...}}` (fact
//! sheet §3.5), members in alphabetical order. Java's tools read nothing else back for such
//! maps (admin statistics, offset resets), so these bodies are written in that form;
//! [`from_json`](super::from_json)'s fastjson pass reads them (each key becomes a string of its
//! JSON text, which `parse_keys` parses).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{BodyError, MessageQueue};

/// A message queue as a fastjson map key: the object itself, members alphabetical.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueueKey<'a> {
    broker_name: &'a str,
    queue_id: i32,
    topic: &'a str,
}

pub(super) fn write_table<V: Serialize>(out: &mut Vec<u8>, table: &[(MessageQueue, V)]) {
    out.push(b'{');
    for (i, (mq, value)) in table.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let key = QueueKey {
            broker_name: &mq.broker_name,
            queue_id: mq.queue_id,
            topic: &mq.topic,
        };
        // Plain structs of strings and integers: serializing them into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &key);
        out.push(b':');
        let _ = serde_json::to_writer(&mut *out, value);
    }
    out.push(b'}');
}

/// A double as fastjson writes one: always with a fraction (`0.0`, `12.5`); a non-finite rate
/// (never expected) as 0.0 rather than invalid JSON.
pub(super) fn write_f64(out: &mut Vec<u8>, v: f64) {
    let v = if v.is_finite() { v } else { 0.0 };
    let _ = serde_json::to_writer(&mut *out, &v);
}

/// Parses each key (a queue's JSON text) of a table read by `from_json`.
pub(super) fn parse_keys<V: DeserializeOwned>(
    table: BTreeMap<String, V>,
) -> Result<Vec<(MessageQueue, V)>, BodyError> {
    table
        .into_iter()
        .map(|(key, v)| {
            serde_json::from_str::<MessageQueue>(&key)
                .map(|mq| (mq, v))
                .map_err(|e| BodyError::Json {
                    what: "message queue key",
                    reason: format!("{e} in {key:?}"),
                })
        })
        .collect()
}
