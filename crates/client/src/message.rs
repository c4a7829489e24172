//! `Message`, the thing a producer sends, and the properties string codec
//! (fact sheet §4.4): `key 0x01 value 0x02` pairs, a trailing 0x02 after the last
//! pair as Java writes it. Decoding skips segments shorter than 3 chars and pairs
//! with an empty key or value, as Java's decoder does. Properties are kept in a
//! `BTreeMap` so the encoded string is deterministic.

use std::collections::BTreeMap;

use bytes::Bytes;

/// Separates a property's name from its value.
pub const NAME_VALUE_SEPARATOR: char = '\u{1}';
/// Ends each property.
pub const PROPERTY_SEPARATOR: char = '\u{2}';

/// Well-known property keys.
pub mod property {
    pub const TAGS: &str = "TAGS";
    pub const KEYS: &str = "KEYS";
    pub const WAIT_STORE_MSG_OK: &str = "WAIT";
    pub const DELAY_TIME_LEVEL: &str = "DELAY";
    pub const UNIQ_KEY: &str = "UNIQ_KEY";
    pub const MIN_OFFSET: &str = "MIN_OFFSET";
    pub const MAX_OFFSET: &str = "MAX_OFFSET";
    pub const RETRY_TOPIC: &str = "RETRY_TOPIC";
    pub const RECONSUME_TIME: &str = "RECONSUME_TIME";
    pub const PRODUCER_GROUP: &str = "PGROUP";
    /// Deliver at this Unix time, ms (RocketMQ 5 timer messages).
    pub const TIMER_DELIVER_MS: &str = "TIMER_DELIVER_MS";
    /// Deliver this many ms after the broker stores it (RocketMQ 5 timer messages).
    pub const TIMER_DELAY_MS: &str = "TIMER_DELAY_MS";
    /// Deliver this many s after the broker stores it (RocketMQ 5 timer messages).
    pub const TIMER_DELAY_SEC: &str = "TIMER_DELAY_SEC";
    /// The deliver time the broker settled on, ms (on a delivered timer message).
    pub const TIMER_OUT_MS: &str = "TIMER_OUT_MS";
    /// Request-reply: the id that pairs a reply with its request.
    pub const CORRELATION_ID: &str = "CORRELATION_ID";
    /// Request-reply: the requester's client id, where the broker pushes the reply.
    pub const REPLY_TO_CLIENT: &str = "REPLY_TO_CLIENT";
    /// Request-reply: how long the requester waits, ms.
    pub const TTL: &str = "TTL";
    /// Request-reply: "reply" on a reply message.
    pub const MSG_TYPE: &str = "MSG_TYPE";
    /// The cluster of the broker that stored a message (set by brokers on single sends).
    pub const CLUSTER: &str = "CLUSTER";
    /// Request-reply: when the broker pushed a reply, Unix ms.
    pub const PUSH_REPLY_TIME: &str = "PUSH_REPLY_TIME";
    /// Request-reply: when the requester received a reply, Unix ms.
    pub const ARRIVE_TIME: &str = "ARRIVE_TIME";
}

/// A message to send: topic, body, optional tag and keys, user properties.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub topic: String,
    pub body: Bytes,
    /// User flag, stored as is.
    pub flag: i32,
    /// Every property, including TAGS and KEYS.
    pub properties: BTreeMap<String, String>,
}

impl Message {
    /// A message for `topic` with `body`.
    pub fn new(topic: impl Into<String>, body: impl Into<Bytes>) -> Self {
        Message {
            topic: topic.into(),
            body: body.into(),
            ..Default::default()
        }
    }

    /// Sets the tag (one tag; the broker filters on its hash).
    pub fn with_tags(mut self, tags: impl Into<String>) -> Self {
        self.properties
            .insert(property::TAGS.to_string(), tags.into());
        self
    }

    /// Sets the keys (space-separated; indexed by the broker for QUERY_MESSAGE).
    pub fn with_keys(mut self, keys: impl Into<String>) -> Self {
        self.properties
            .insert(property::KEYS.to_string(), keys.into());
        self
    }

    /// Sets a user property.
    pub fn with_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Delivers the message at `unix_ms` (a RocketMQ 5 timer message, Java's `setDeliverTimeMs`):
    /// consumers see it then, not before (the broker rounds down to the second), at most 3 days
    /// ahead by default (`timerMaxDelaySec`). A time already past delivers at once.
    pub fn with_deliver_time_ms(mut self, unix_ms: i64) -> Self {
        self.properties
            .insert(property::TIMER_DELIVER_MS.to_string(), unix_ms.to_string());
        self
    }

    /// Delivers the message `delay` after the broker stores it (Java's `setDelayTimeMs`).
    pub fn with_delay(mut self, delay: std::time::Duration) -> Self {
        self.properties.insert(
            property::TIMER_DELAY_MS.to_string(),
            delay.as_millis().to_string(),
        );
        self
    }

    /// The tag, if any.
    pub fn tags(&self) -> Option<&str> {
        self.property(property::TAGS)
    }

    /// The keys, if any.
    pub fn keys(&self) -> Option<&str> {
        self.property(property::KEYS)
    }

    /// One property.
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).map(String::as_str)
    }
}

/// Encodes properties as the wire string.
pub fn encode_properties(props: &BTreeMap<String, String>) -> String {
    let size = props.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
    let mut out = String::with_capacity(size);
    for (k, v) in props {
        out.push_str(k);
        out.push(NAME_VALUE_SEPARATOR);
        out.push_str(v);
        out.push(PROPERTY_SEPARATOR);
    }
    out
}

/// Decodes the wire string into a map (later duplicates win).
pub fn decode_properties(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for segment in s.split(PROPERTY_SEPARATOR) {
        if segment.chars().count() < 3 {
            continue;
        }
        if let Some((k, v)) = segment.split_once(NAME_VALUE_SEPARATOR) {
            if !k.is_empty() && !v.is_empty() {
                out.insert(k.to_string(), v.to_string());
            }
        }
    }
    out
}

/// Java's `String.hashCode` over UTF-16 code units: the broker's tag code and
/// the hash behind key-based queue selection.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_round_trip_with_trailing_separator() {
        let m = Message::new("T", "b")
            .with_tags("TagA")
            .with_keys("k1 k2")
            .with_property("x", "é");
        let s = encode_properties(&m.properties);
        assert_eq!(s, "KEYS\u{1}k1 k2\u{2}TAGS\u{1}TagA\u{2}x\u{1}é\u{2}");
        assert_eq!(decode_properties(&s), m.properties);
    }

    #[test]
    fn decoder_skips_short_and_empty_segments() {
        let d = decode_properties("a\u{1}\u{2}\u{1}v\u{2}ab\u{2}k\u{1}v\u{2}\u{2}");
        assert_eq!(d.len(), 1);
        assert_eq!(d.get("k").map(String::as_str), Some("v"));
    }

    #[test]
    fn java_hash_matches_known_values() {
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("TagA"), 2598919);
        assert_eq!(java_string_hash("hello"), 99162322);
    }
}
