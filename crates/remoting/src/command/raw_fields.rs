//! `RawExtFields`: the extFields of a decoded JSON header, kept as the text of the object's
//! members instead of a map.
//!
//! Why: a send request carries fourteen fields and its response eight; building a
//! `BTreeMap<String, String>` for them (two allocations per field plus the tree) and then taking
//! the strings out again was the largest per-message cost of header decoding on both broker and
//! client. Typed headers read the members straight into their fields (`CommandHeader::
//! from_fields_text`), allocating only for the string fields they keep; the reader records
//! where each member lies while checking them, so they are not scanned twice. `FieldsText`
//! reads received members and pre-rendered `ext_fields_json` alike.
//!
//! Invariants: the text is exactly what the JSON reader accepted as the inside of an extFields
//! object (string keys; string, integer, `true`/`false`/`null` values), so reading it again
//! cannot fail; its meaning is serde's: the last occurrence of a key wins, a `null` value removes
//! the key, scalar values stand for their text.

use std::borrow::Cow;
use std::fmt;

use super::json_fast::{members, members_to_map, Member, MemberSpan};
use super::ExtFields;

/// extFields as received, unparsed (see the module docs).
#[derive(Clone)]
pub struct RawExtFields {
    text: Box<str>,
    /// Where each member lies in `text`, recorded while it was checked.
    spans: Vec<MemberSpan>,
}

impl RawExtFields {
    /// Wraps members text the JSON reader has validated, with the members' spans it recorded.
    pub(super) fn from_validated(text: &str, spans: Vec<MemberSpan>) -> Self {
        RawExtFields {
            text: text.into(),
            spans,
        }
    }

    /// The members' JSON text (inside the braces), as received.
    pub fn as_json(&self) -> &str {
        &self.text
    }

    /// Every member in wire order: key and value text (`None` for JSON null). A key may repeat;
    /// the last occurrence is the one that counts.
    pub fn iter(&self) -> impl Iterator<Item = Member<'_>> {
        self.spans.iter().filter_map(|span| span.member(&self.text))
    }

    /// The value of `key` as the map would hold it.
    pub fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        get_in(self.iter(), key)
    }

    /// The fields as a map.
    pub fn to_map(&self) -> ExtFields {
        members_to_map(self.iter())
    }
}

/// extFields held as JSON members: received (`RawExtFields`) or pre-rendered
/// (`RemotingCommand::ext_fields_json`, any text in the same form).
#[derive(Debug, Clone, Copy)]
pub enum FieldsText<'a> {
    Received(&'a RawExtFields),
    Rendered(&'a str),
}

impl<'a> FieldsText<'a> {
    /// The values of `keys` as the map would hold them, into `slots` (same order; `None` when
    /// absent). One pass over the members, no allocation for values without escapes.
    pub fn fill(self, keys: &[&str], slots: &mut [Option<Cow<'a, str>>]) {
        match self {
            FieldsText::Received(raw) => fill_in(raw.iter(), keys, slots),
            FieldsText::Rendered(text) => fill_in(members(text), keys, slots),
        }
    }

    /// The value of `key` as the map would hold it.
    pub fn get(self, key: &str) -> Option<Cow<'a, str>> {
        match self {
            FieldsText::Received(raw) => raw.get(key),
            FieldsText::Rendered(text) => get_in(members(text), key),
        }
    }

    /// The fields as a map.
    pub fn to_map(self) -> ExtFields {
        match self {
            FieldsText::Received(raw) => raw.to_map(),
            FieldsText::Rendered(text) => members_to_map(members(text)),
        }
    }
}

fn get_in<'a>(members: impl Iterator<Item = Member<'a>>, key: &str) -> Option<Cow<'a, str>> {
    let mut found = None;
    for (k, v) in members {
        if k == key {
            found = v;
        }
    }
    found
}

fn fill_in<'a>(
    members: impl Iterator<Item = Member<'a>>,
    keys: &[&str],
    slots: &mut [Option<Cow<'a, str>>],
) {
    // Senders write keys sorted, and headers declare them mostly in that order: try the key
    // after the last one found before searching them all.
    let mut next = 0;
    for (k, v) in members {
        let found = match keys.get(next) {
            Some(key) if same(key, &k) => Some(next),
            _ => keys.iter().position(|key| same(key, &k)),
        };
        if let Some(i) = found {
            if let Some(slot) = slots.get_mut(i) {
                *slot = v;
            }
            next = i + 1;
        }
    }
}

/// String equality without a `memcmp` call: header keys are a few bytes long, and the call cost
/// more than the comparison in profiles of single sends.
#[inline]
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| x == y)
}

impl fmt::Debug for RawExtFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.to_map()).finish()
    }
}

impl PartialEq for RawExtFields {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text || self.to_map() == other.to_map()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::decode_json_header;

    fn raw(members: &str) -> RawExtFields {
        let header = format!("{{\"code\":1,\"extFields\":{{{members}}}}}");
        decode_json_header(header.as_bytes())
            .expect("valid header")
            .ext_fields_raw
            .expect("kept raw")
    }

    #[test]
    fn reads_values_like_the_map() {
        let r = raw(r#""b":"x\u0001y","a":7,"c":true,"d":null,"b":"z","e":"\"q\"""#);
        assert_eq!(r.get("a").as_deref(), Some("7"));
        assert_eq!(r.get("b").as_deref(), Some("z"));
        assert_eq!(r.get("c").as_deref(), Some("true"));
        assert_eq!(r.get("d"), None);
        assert_eq!(r.get("e").as_deref(), Some("\"q\""));
        assert_eq!(r.get("zz"), None);
        let map = r.to_map();
        assert_eq!(map.len(), 4);
        assert_eq!(map.get("b").map(String::as_str), Some("z"));
        let keys = ["e", "d", "b", "a"];
        let mut slots: [Option<Cow<'_, str>>; 4] = Default::default();
        FieldsText::Received(&r).fill(&keys, &mut slots);
        assert_eq!(
            slots.iter().map(|s| s.as_deref()).collect::<Vec<_>>(),
            vec![Some("\"q\""), None, Some("z"), Some("7")]
        );
    }

    #[test]
    fn a_later_null_removes_an_earlier_value() {
        let r = raw(r#""a":"1","a":null"#);
        assert_eq!(r.get("a"), None);
        assert!(r.to_map().is_empty());
        let mut slots: [Option<Cow<'_, str>>; 1] = Default::default();
        FieldsText::Rendered(r.as_json()).fill(&["a"], &mut slots);
        assert_eq!(slots[0], None);
    }

    #[test]
    fn escaped_keys_are_matched_decoded() {
        let r = raw(r#""\u0061":"x""#);
        assert_eq!(r.get("a").as_deref(), Some("x"));
    }
}
