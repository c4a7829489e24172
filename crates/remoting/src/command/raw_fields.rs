//! `RawExtFields`: the extFields of a decoded header, kept as the text of their keys and values
//! instead of a map.
//!
//! Why: a send request carries fourteen fields and its response eight; building a
//! `BTreeMap<String, String>` for them (two allocations per field plus the tree) and then taking
//! the strings out again was the largest per-message cost of header decoding on both broker and
//! client. Typed headers read the members straight into their fields (`CommandHeader::
//! from_fields_text`), allocating only for the string fields they keep.
//!
//! Two forms:
//! - **JSON**: the members of a JSON header's extFields object as received; the reader records
//!   where each member lies while checking them, so they are not scanned twice. `FieldsText`
//!   reads received members and pre-rendered `ext_fields_json` alike.
//! - **Plain**: keys and values laid end to end in one string, with where each ends. A ROCKETMQ
//!   binary header decodes to this form (its entries are length-prefixed, so there is nothing to
//!   unescape), and typed headers render to it for commands sent with that header
//!   (`CommandHeader::plain_fields`), which the binary writer then copies out as they are.
//!
//! Invariants: JSON text is exactly what the JSON reader accepted as the inside of an extFields
//! object (string keys; string, integer, `true`/`false`/`null` values), so reading it again
//! cannot fail; plain spans are ascending and end inside the text on char boundaries. The meaning
//! is the map's: the last occurrence of a key wins, a JSON `null` value removes the key, scalar
//! values stand for their text, and a plain value (possibly empty) is always present.

use std::borrow::Cow;
use std::fmt;

use super::json_fast::{members, members_to_map, Member, MemberSpan};
use super::ExtFields;

/// extFields as received (or rendered for a binary header), unparsed (see the module docs).
#[derive(Clone)]
pub struct RawExtFields {
    /// A `String`, not a `Box<str>`: the plain form is built in a buffer sized from an upper
    /// bound, and boxing would shrink it, a reallocation and a copy per decoded or rendered header.
    text: String,
    spans: Spans,
}

#[derive(Clone)]
enum Spans {
    /// Where each member of the JSON members text lies, recorded while it was checked.
    Json(Vec<MemberSpan>),
    /// For each entry, where its key ends and where its value ends; the key starts where the
    /// previous value ended (the first at 0) and the value where the key ended.
    Plain(Vec<(usize, usize)>),
}

impl RawExtFields {
    /// Wraps members text the JSON reader has validated, with the members' spans it recorded.
    pub(super) fn from_validated(text: &str, spans: Vec<MemberSpan>) -> Self {
        RawExtFields {
            text: text.into(),
            spans: Spans::Json(spans),
        }
    }

    /// The members' JSON text (inside the braces), as received; `None` for the plain form.
    pub fn as_json(&self) -> Option<&str> {
        match self.spans {
            Spans::Json(_) => Some(&self.text),
            Spans::Plain(_) => None,
        }
    }

    /// Every member in wire order: key and value text (`None` for JSON null). A key may repeat;
    /// the last occurrence is the one that counts.
    pub fn iter(&self) -> Members<'_> {
        Members {
            text: &self.text,
            spans: match &self.spans {
                Spans::Json(spans) => SpansIter::Json(spans.iter()),
                Spans::Plain(spans) => SpansIter::Plain(self.entries(spans)),
            },
        }
    }

    /// The entries (key, value) in wire order when this is the plain form, for writing them out
    /// as they are.
    pub(super) fn plain_entries(&self) -> Option<PlainEntries<'_>> {
        match &self.spans {
            Spans::Plain(spans) => Some(self.entries(spans)),
            Spans::Json(_) => None,
        }
    }

    fn entries<'a>(&'a self, spans: &'a [(usize, usize)]) -> PlainEntries<'a> {
        PlainEntries {
            text: &self.text,
            spans: spans.iter(),
            start: 0,
        }
    }

    /// The value of `key` as the map would hold it.
    pub fn get(&self, key: &str) -> Option<Cow<'_, str>> {
        get_in(self.iter(), key)
    }

    /// The fields as a map.
    pub fn to_map(&self) -> ExtFields {
        members_to_map(self.iter())
    }

    /// True when there are no members.
    pub fn is_empty(&self) -> bool {
        match &self.spans {
            Spans::Json(spans) => spans.is_empty(),
            Spans::Plain(spans) => spans.is_empty(),
        }
    }
}

/// The members of a `RawExtFields`, in wire order (a named type rather than adapters chained
/// over the two forms: typed headers run this per request, and the chain's `next` did not
/// inline, a visible share of the broker's samples).
pub struct Members<'a> {
    text: &'a str,
    spans: SpansIter<'a>,
}

enum SpansIter<'a> {
    Json(std::slice::Iter<'a, MemberSpan>),
    Plain(PlainEntries<'a>),
}

impl<'a> Iterator for Members<'a> {
    type Item = Member<'a>;

    fn next(&mut self) -> Option<Member<'a>> {
        match &mut self.spans {
            SpansIter::Json(spans) => spans.find_map(|span| span.member(self.text)),
            SpansIter::Plain(entries) => {
                let (key, value) = entries.next()?;
                Some((Cow::Borrowed(key), Some(Cow::Borrowed(value))))
            }
        }
    }
}

/// The entries of the plain form: key and value, in wire order.
#[derive(Clone)]
pub struct PlainEntries<'a> {
    text: &'a str,
    spans: std::slice::Iter<'a, (usize, usize)>,
    /// Where the next key starts.
    start: usize,
}

impl<'a> Iterator for PlainEntries<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<(&'a str, &'a str)> {
        let &(key_end, value_end) = self.spans.next()?;
        let key = self.text.get(self.start..key_end)?;
        let value = self.text.get(key_end..value_end)?;
        self.start = value_end;
        Some((key, value))
    }
}

/// Builds the plain form entry by entry.
#[derive(Debug, Default)]
pub struct PlainFields {
    text: String,
    spans: Vec<(usize, usize)>,
}

impl PlainFields {
    /// A builder with room for `entries` entries of `bytes` key and value bytes in all.
    pub fn with_capacity(entries: usize, bytes: usize) -> Self {
        PlainFields {
            text: String::with_capacity(bytes),
            spans: Vec::with_capacity(entries),
        }
    }

    /// Appends one entry whose value `write_value` appends to the text it is given.
    pub fn push_with(&mut self, key: &str, write_value: impl FnOnce(&mut String)) {
        self.text.push_str(key);
        let key_end = self.text.len();
        write_value(&mut self.text);
        self.spans.push((key_end, self.text.len()));
    }

    /// Appends one entry.
    pub fn push(&mut self, key: &str, value: &str) {
        self.push_with(key, |text| text.push_str(value));
    }

    /// The plain form of entries whose keys and values were copied end to end into `text`,
    /// with where each key and value ends; `None` unless `text` is UTF-8 and every end is a
    /// char boundary, that is unless every key and value is UTF-8 on its own. One validation
    /// of the whole instead of one per string (a binary header carries about thirty).
    pub(super) fn from_concatenated(
        text: Vec<u8>,
        spans: Vec<(usize, usize)>,
    ) -> Option<RawExtFields> {
        let text = String::from_utf8(text).ok()?;
        let boundaries = spans
            .iter()
            .flat_map(|&(key_end, value_end)| [key_end, value_end]);
        for end in boundaries {
            if !text.is_char_boundary(end) {
                return None;
            }
        }
        Some(RawExtFields {
            text,
            spans: Spans::Plain(spans),
        })
    }

    /// The entries as extFields.
    pub fn finish(self) -> RawExtFields {
        RawExtFields {
            text: self.text,
            spans: Spans::Plain(self.spans),
        }
    }
}

/// extFields held as text: received or rendered (`RawExtFields`), or pre-rendered JSON members
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
        let same_json = matches!(
            (&self.spans, &other.spans),
            (Spans::Json(_), Spans::Json(_))
        ) && self.text == other.text;
        same_json || self.to_map() == other.to_map()
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
        FieldsText::Rendered(r.as_json().expect("JSON form")).fill(&["a"], &mut slots);
        assert_eq!(slots[0], None);
    }

    #[test]
    fn escaped_keys_are_matched_decoded() {
        let r = raw(r#""\u0061":"x""#);
        assert_eq!(r.get("a").as_deref(), Some("x"));
    }
}
