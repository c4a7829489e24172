//! Maps keyed by message queue, as Java's fastjson writes them: an object used as a map key is
//! written as the object itself, `{{"brokerName":"b","queueId":0,"topic":"t"}:{...}}` (fact
//! sheet §3.5), members in alphabetical order. Java's tools read nothing else back for such
//! maps (admin statistics, offset resets), so these bodies are written in that form;
//! [`from_json`](super::from_json)'s fastjson pass reads them (each key becomes a string of its
//! JSON text, which `read_body` parses).

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::{BodyError, MessageQueue};

/// A message queue as a fastjson map key: the object itself, members alphabetical.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QueueKey<'a> {
    broker_name: &'a str,
    queue_id: i32,
    topic: &'a str,
}

/// The member every queue-keyed body has.
const TABLE: &str = "offsetTable";

/// A body of Java's shape: `offsetTable` keyed by queue, plus, when `rate` names one, a double
/// member (a TPS), the two in fastjson's alphabetical order.
pub(super) fn write_body<V: Serialize>(
    table: &[(MessageQueue, V)],
    rate: Option<(&str, f64)>,
) -> Vec<u8> {
    let mut out = vec![b'{'];
    let (before, after) = match rate {
        Some(r) if r.0 < TABLE => (Some(r), None),
        other => (None, other),
    };
    if let Some((name, v)) = before {
        write_rate(&mut out, name, v);
        out.push(b',');
    }
    out.extend_from_slice(b"\"offsetTable\":");
    write_map(&mut out, table);
    if let Some((name, v)) = after {
        out.push(b',');
        write_rate(&mut out, name, v);
    }
    out.push(b'}');
    out
}

/// Appends `table` as one fastjson map keyed by queue: `{{queue}:value,...}`.
pub(super) fn write_map<V: Serialize>(out: &mut Vec<u8>, table: &[(MessageQueue, V)]) {
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

/// `"name":v`, the double as fastjson writes one: always with a fraction (`0.0`, `12.5`); a
/// non-finite rate (never expected) as 0.0 rather than invalid JSON.
fn write_rate(out: &mut Vec<u8>, name: &str, v: f64) {
    let v = if v.is_finite() { v } else { 0.0 };
    let _ = serde_json::to_writer(&mut *out, name);
    out.push(b':');
    let _ = serde_json::to_writer(&mut *out, &v);
}

/// Reads a body [`write_body`] writes (or one with the keys as JSON-text strings): the table,
/// and the double member `rate` names (0 when absent, as Java defaults it).
pub(super) fn read_body<V: DeserializeOwned>(
    bytes: &[u8],
    rate: Option<&str>,
) -> Result<(Vec<(MessageQueue, V)>, f64), BodyError> {
    let body: Value = super::from_json(bytes)?;
    let rate = rate
        .and_then(|name| body.get(name))
        .and_then(Value::as_f64)
        .unwrap_or(0.0);
    let table = read_map(body.get(TABLE), TABLE)?;
    Ok((table, rate))
}

/// Reads one queue-keyed map member (`name` is for the error) from a body [`from_json`]
/// normalized: each key is a string holding the queue's JSON. Absent or null is empty.
///
/// [`from_json`]: super::from_json
pub(super) fn read_map<V: DeserializeOwned>(
    member: Option<&Value>,
    name: &str,
) -> Result<Vec<(MessageQueue, V)>, BodyError> {
    let invalid = |reason: String| BodyError::Json {
        what: "queue-keyed body",
        reason,
    };
    match member {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Object(entries)) => entries
            .iter()
            .map(|(key, v)| {
                let mq = serde_json::from_str::<MessageQueue>(key)
                    .map_err(|e| invalid(format!("{e} in the queue key {key:?}")))?;
                let v = V::deserialize(v).map_err(|e| invalid(format!("{e} for {key:?}")))?;
                Ok((mq, v))
            })
            .collect(),
        Some(other) => Err(invalid(format!("{name} is {other}, not an object"))),
    }
}
