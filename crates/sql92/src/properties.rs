//! Where a selector reads a message's properties: the [`Properties`] trait and its
//! implementations for RocketMQ's encoded properties string, maps and slices of pairs.
//!
//! Lookups borrow; none allocates, so evaluating a selector against a stored record costs no
//! decode into a map (the Java broker builds a `HashMap` per message).

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

/// Where a selector reads a message's properties. Values are strings, as in RocketMQ
/// (`MessageEvaluationContext` looks names up in a `Map<String, String>`).
pub trait Properties {
    /// The value of property `name`, `None` when the message does not have it.
    fn get(&self, name: &str) -> Option<&str>;
}

/// RocketMQ's encoded properties string: `name\u{1}value\u{2}name\u{1}value\u{2}` (the trailing
/// `\u{2}` is optional).
///
/// Lookup scans the string with the leniency of Java's `MessageDecoder.string2messageProperties`,
/// the decode whose map the Java broker evaluates selectors against: a pair with an empty name
/// or an empty value is not there, a value runs from the first `\u{1}` of its segment to the
/// next `\u{2}`, and when a name repeats the **last** occurrence wins (the decoder `put`s each
/// pair into a `HashMap`). Courier's store (`property_value`) agrees, so a selector sees what
/// the rest of the broker sees.
#[derive(Debug, Clone, Copy)]
pub struct Encoded<'a>(pub &'a str);

impl Properties for Encoded<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        let text = self.0.as_bytes();
        let key = name.as_bytes();
        // A name holding the separator could never equal the text before a segment's first
        // \u{1}; an empty one is never stored.
        if key.is_empty() || key.contains(&1) {
            return None;
        }
        let mut found = None;
        let mut start = 0;
        // Bytes, not chars: both separators are ASCII, so every cut is a char boundary.
        while start < text.len() {
            let end = text[start..]
                .iter()
                .position(|&b| b == 2)
                .map_or(text.len(), |p| start + p);
            let segment = &text[start..end];
            // `key \u{1} value` with a non-empty value; later matches replace earlier ones.
            if segment.len() > key.len() + 1 && segment[key.len()] == 1 && segment.starts_with(key)
            {
                found = self.0.get(start + key.len() + 1..end);
            }
            start = end + 1;
        }
        found
    }
}

impl<S: BuildHasher> Properties for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

impl Properties for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

/// Pairs in order; a repeated name resolves to its last pair, like a map built by inserting
/// them in order (and like [`Encoded`]).
impl Properties for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter().rev().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }
}

/// As the slice of borrowed pairs.
impl<const N: usize> Properties for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<&str> {
        Properties::get(self.as_slice(), name)
    }
}

/// As the slice of borrowed pairs.
impl Properties for [(String, String)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl<P: Properties + ?Sized> Properties for &P {
    fn get(&self, name: &str) -> Option<&str> {
        (**self).get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_finds_values_with_or_without_trailing_separator() {
        let e = Encoded("TAGS\u{1}TagA\u{2}region\u{1}east\u{2}a\u{1}7");
        assert_eq!(e.get("TAGS"), Some("TagA"));
        assert_eq!(e.get("region"), Some("east"));
        assert_eq!(e.get("a"), Some("7"));
        assert_eq!(e.get("b"), None);
        assert_eq!(e.get("reg"), None, "a prefix of a name is not the name");
        assert_eq!(e.get("regionx"), None);
    }

    #[test]
    fn encoded_follows_the_java_decoder_leniency() {
        // MessageDecoder.string2messageProperties: empty names and values are skipped, the
        // value runs past a second \u{1}, and the last of a repeated name wins (HashMap.put).
        let e = Encoded("a\u{1}\u{2}\u{1}x\u{2}b\u{1}1\u{1}2\u{2}c\u{1}first\u{2}c\u{1}last\u{2}");
        assert_eq!(e.get("a"), None);
        assert_eq!(e.get(""), None);
        assert_eq!(e.get("b"), Some("1\u{1}2"));
        assert_eq!(e.get("c"), Some("last"));
        let e = Encoded("c\u{1}first\u{2}c\u{1}\u{2}");
        assert_eq!(
            e.get("c"),
            Some("first"),
            "an empty later value is no occurrence"
        );
        assert_eq!(Encoded("").get("a"), None);
        assert_eq!(
            Encoded("abc").get("abc"),
            None,
            "a segment without a separator has no value"
        );
    }

    #[test]
    fn maps_and_slices() {
        let mut h = HashMap::new();
        h.insert("a".to_string(), "1".to_string());
        assert_eq!(Properties::get(&h, "a"), Some("1"));
        assert_eq!(Properties::get(&h, "b"), None);
        let b: BTreeMap<String, String> = h.clone().into_iter().collect();
        assert_eq!(Properties::get(&b, "a"), Some("1"));
        let pairs = [("a", "1"), ("b", "2"), ("a", "3")];
        assert_eq!(Properties::get(&pairs, "a"), Some("3"));
        assert_eq!(Properties::get(&pairs[..], "b"), Some("2"));
        assert_eq!(Properties::get(&pairs[..], "c"), None);
        let owned = [("a".to_string(), "x".to_string())];
        assert_eq!(Properties::get(&owned[..], "a"), Some("x"));
        assert_eq!(Properties::get(&&pairs, "b"), Some("2"));
    }
}
