//! Serde types for the JSON bodies that cross the wire, and the helpers that
//! read them tolerantly and write them as Java expects.
//!
//! Reading: `from_json` accepts standard JSON and, failing that, fastjson's
//! non-standard output (unquoted numeric keys, objects as map keys; see
//! `fastjson`). Unknown members are ignored and missing ones take Java's
//! defaults. Writing: `to_json` emits standard JSON with members in the
//! declaration order, which follows fastjson's alphabetical order. Java's
//! fastjson parses quoted numeric keys fine, so standard JSON is sent, except
//! for the admin statistics keyed by message queues (`stats`), which have no
//! standard form Java reads back, the offset reset body (`reset_offset`) and a consumer's
//! running info (`running_info`).

mod consumer_status;
pub mod fastjson;
mod heartbeat;
mod lists;
mod lock;
mod properties;
mod queue_map;
mod register;
mod reset_offset;
mod route;
mod running_info;
mod stats;

pub use consumer_status::*;
pub use heartbeat::*;
pub use lists::*;
pub use lock::*;
pub use properties::*;
pub use register::*;
pub use reset_offset::*;
pub use route::*;
pub use running_info::*;
pub use stats::*;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("invalid {what} JSON body: {reason}")]
    Json { what: &'static str, reason: String },
    #[error("invalid compressed register-broker body: {0}")]
    Compressed(String),
    #[error("the request has no body, but a {0} body is required")]
    Missing(&'static str),
}

/// Parses a JSON body of type `T`, accepting fastjson's non-standard forms.
pub fn from_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    let what = short_type_name::<T>();
    match serde_json::from_slice(bytes) {
        Ok(v) => Ok(v),
        Err(first) => {
            let normalized = fastjson::normalize(bytes).map_err(|e| BodyError::Json {
                what,
                reason: format!("{first}; not fastjson either: {e}"),
            })?;
            serde_json::from_slice(&normalized).map_err(|e| BodyError::Json {
                what,
                reason: e.to_string(),
            })
        }
    }
}

/// Serializes a body as standard JSON.
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing these plain data types (string-keyed or integer-keyed maps,
    // no custom serializers) cannot fail; fall back to an empty object so a
    // future type mistake shows up as a wrong body, not a crash.
    serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec())
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// Queue `queue_id` of `topic` on broker-a, for the bodies' tests.
#[cfg(test)]
fn test_queue(topic: &str, queue_id: i32) -> MessageQueue {
    MessageQueue {
        topic: topic.into(),
        broker_name: "broker-a".into(),
        queue_id,
    }
}
