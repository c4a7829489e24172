//! Typed custom headers ↔ `extFields` (fact sheet §1.2 decoding rules, §3 keys).
//!
//! Every value travels as a string. Decoding follows Java's
//! `RemotingCommand.decodeCommandCustomHeader`: ints/longs parse as decimal
//! (a non-number is an error naming the field), booleans are true only for a
//! case-insensitive "true", a missing required field is
//! `HeaderError::Missing` ("the custom field <x> is null"), unknown keys are
//! ignored. Encoding writes every present field as `key → value.to_string()`.
//! One file per request family; each header is declared with `command_header!`.

mod admin;
mod broker;
mod client;
mod kv;
mod offset;
mod pull;
mod query;
mod route;
mod send;

pub use admin::*;
pub use broker::*;
pub use client::*;
pub use kv::*;
pub use offset::*;
pub use pull::*;
pub use query::*;
pub use route::*;
pub use send::*;

use std::borrow::Cow;

use crate::command::{ExtFields, FieldsText, PlainFields, RawExtFields};

/// Why extFields could not be turned into a typed header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// A required (`@CFNotNull`) field is absent; the text is Java's.
    #[error("the custom field <{0}> is null")]
    Missing(&'static str),
    /// A field is present but not of its declared type.
    #[error("the custom field <{field}> has value {value:?}, which is not a valid {expected}")]
    Invalid {
        field: &'static str,
        value: String,
        expected: &'static str,
    },
}

/// A typed custom header carried in a command's extFields.
pub trait CommandHeader: Sized {
    /// Writes every present field into `fields` (existing keys are overwritten).
    fn to_ext_fields(&self, fields: &mut ExtFields);
    /// Reads the header from extFields, failing on missing required or malformed fields.
    fn from_ext_fields(fields: &ExtFields) -> Result<Self, HeaderError>;

    /// The header as a fresh extFields map.
    fn ext_fields(&self) -> ExtFields {
        let mut map = ExtFields::new();
        self.to_ext_fields(&mut map);
        map
    }

    /// The header as a fresh extFields map, moving its strings in instead of copying them
    /// (the per-message send path builds a header only to encode it).
    fn into_ext_fields(self) -> ExtFields {
        self.ext_fields()
    }

    /// The header as JSON object members for `RemotingCommand::ext_fields_json`: the bytes the
    /// JSON writer would produce from `ext_fields()`, without building the map.
    fn json_members(&self) -> String;

    /// The header as plain extFields for a command sent with the ROCKETMQ binary header: the
    /// entries the binary writer would produce from `ext_fields()`, in the same order, without
    /// building the map.
    fn plain_fields(&self) -> RawExtFields;

    /// Reads the header out of an extFields map the caller no longer needs: string fields are
    /// moved out instead of copied. Same result and errors as `from_ext_fields`.
    fn from_owned_ext_fields(fields: ExtFields) -> Result<Self, HeaderError> {
        Self::from_ext_fields(&fields)
    }

    /// Reads the header from extFields JSON members (a decoded command's raw fields, or
    /// pre-rendered ones) without building a map. Same result and errors as `from_ext_fields`
    /// on the map they stand for.
    fn from_fields_text(members: FieldsText<'_>) -> Result<Self, HeaderError> {
        Self::from_owned_ext_fields(members.to_map())
    }
}

/// A scalar type that can be a header field value.
pub trait HeaderValue: Sized {
    fn parse(field: &'static str, text: &str) -> Result<Self, HeaderError>;
    fn render(&self) -> String;
    /// `render` for a value that is not needed afterwards.
    fn into_text(self) -> String {
        self.render()
    }
    /// `parse` for text that is not needed afterwards.
    fn parse_owned(field: &'static str, text: String) -> Result<Self, HeaderError> {
        Self::parse(field, &text)
    }
    /// `parse` for text that may be borrowed from a raw header.
    fn parse_cow(field: &'static str, text: Cow<'_, str>) -> Result<Self, HeaderError> {
        match text {
            Cow::Borrowed(t) => Self::parse(field, t),
            Cow::Owned(t) => Self::parse_owned(field, t),
        }
    }
    /// Appends the value as a JSON string (the form every extFields value is written in).
    fn write_json(&self, out: &mut Vec<u8>) {
        crate::command::write_json_str(&self.render(), out);
    }
    /// Appends the value's text (`render` without a string of its own).
    fn write_text(&self, out: &mut String) {
        out.push_str(&self.render());
    }
}

impl HeaderValue for String {
    fn parse(_: &'static str, text: &str) -> Result<Self, HeaderError> {
        Ok(text.to_string())
    }
    fn render(&self) -> String {
        self.clone()
    }
    fn into_text(self) -> String {
        self
    }
    fn parse_owned(_: &'static str, text: String) -> Result<Self, HeaderError> {
        Ok(text)
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        crate::command::write_json_str(self, out);
    }
    fn write_text(&self, out: &mut String) {
        out.push_str(self);
    }
}

macro_rules! numeric_value {
    ($t:ty, $name:literal $(, $json:item)*) => {
        impl HeaderValue for $t {
            fn parse(field: &'static str, text: &str) -> Result<Self, HeaderError> {
                text.parse::<$t>().map_err(|_| HeaderError::Invalid {
                    field,
                    value: text.to_string(),
                    expected: $name,
                })
            }
            fn render(&self) -> String {
                self.to_string()
            }
            $($json)*
        }
    };
}

numeric_value!(
    i32,
    "int (32-bit decimal integer)",
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        crate::command::write_json_i64(i64::from(*self), out);
        out.push(b'"');
    },
    fn write_text(&self, out: &mut String) {
        crate::command::write_decimal(i64::from(*self), out);
    }
);
numeric_value!(
    i64,
    "long (64-bit decimal integer)",
    fn write_json(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        crate::command::write_json_i64(*self, out);
        out.push(b'"');
    },
    fn write_text(&self, out: &mut String) {
        crate::command::write_decimal(*self, out);
    }
);
numeric_value!(f64, "double");

impl HeaderValue for bool {
    fn parse(_: &'static str, text: &str) -> Result<Self, HeaderError> {
        // Java's Boolean.parseBoolean: anything but "true" (any case) is false.
        Ok(text.eq_ignore_ascii_case("true"))
    }
    fn render(&self) -> String {
        self.to_string()
    }
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(if *self { b"\"true\"" } else { b"\"false\"" });
    }
    fn write_text(&self, out: &mut String) {
        out.push_str(if *self { "true" } else { "false" });
    }
}

/// A header struct field: a required `T` or an optional `Option<T>`.
pub trait HeaderField: Sized {
    fn read(fields: &ExtFields, key: &'static str) -> Result<Self, HeaderError>;
    /// Appends `key → text` when the field is present.
    fn write(&self, fields: &mut Vec<(String, String)>, key: &'static str);
    /// `write` that moves the value's text in.
    fn write_owned(self, fields: &mut Vec<(String, String)>, key: &'static str);
    /// `read` that moves the value's text out of `fields`.
    fn take(fields: &mut ExtFields, key: &'static str) -> Result<Self, HeaderError>;
    /// `read` from the field's text as found in raw extFields (`None` when absent).
    fn from_text(text: Option<Cow<'_, str>>, key: &'static str) -> Result<Self, HeaderError>;
}

/// Writes a header field in either rendered form (`CommandHeader::json_members`,
/// `CommandHeader::plain_fields`), or nothing when it is an absent optional field.
pub trait HeaderMember {
    /// Appends the field as one JSON object member (`"key":"value"`, preceded by a comma unless
    /// it is the first).
    fn write_member(&self, key: &str, out: &mut Vec<u8>);
    /// Appends the field as one plain entry, or nothing when it is an absent optional field.
    fn write_plain(&self, key: &str, out: &mut PlainFields);
}

fn member_key(key: &str, out: &mut Vec<u8>) {
    if !out.is_empty() {
        out.push(b',');
    }
    crate::command::write_json_str(key, out);
    out.push(b':');
}

/// Where a header's fields are rendered, one at a time in the map's order: JSON members text
/// (`CommandHeader::json_members`) or plain fields (`CommandHeader::plain_fields`). Typed
/// headers and `SendHeaderFields` write through this, so each rendering is written once.
pub(crate) trait MemberSink {
    /// A string field the caller holds borrowed.
    fn text(&mut self, key: &str, v: &str);
    /// Any header field; an absent optional one writes nothing.
    fn value(&mut self, key: &str, v: &(impl HeaderMember + ?Sized));
}

impl MemberSink for Vec<u8> {
    fn text(&mut self, key: &str, v: &str) {
        member_key(key, self);
        crate::command::write_json_str(v, self);
    }
    fn value(&mut self, key: &str, v: &(impl HeaderMember + ?Sized)) {
        v.write_member(key, self);
    }
}

impl MemberSink for PlainFields {
    fn text(&mut self, key: &str, v: &str) {
        self.push(key, v);
    }
    fn value(&mut self, key: &str, v: &(impl HeaderMember + ?Sized)) {
        v.write_plain(key, self);
    }
}

macro_rules! header_field {
    ($($t:ty),*) => {$(
        impl HeaderField for $t {
            fn read(fields: &ExtFields, key: &'static str) -> Result<Self, HeaderError> {
                match fields.get(key) {
                    Some(text) => <$t as HeaderValue>::parse(key, text),
                    None => Err(HeaderError::Missing(key)),
                }
            }
            fn write(&self, fields: &mut Vec<(String, String)>, key: &'static str) {
                fields.push((key.to_string(), self.render()));
            }
            fn write_owned(self, fields: &mut Vec<(String, String)>, key: &'static str) {
                fields.push((key.to_string(), self.into_text()));
            }
            fn take(fields: &mut ExtFields, key: &'static str) -> Result<Self, HeaderError> {
                match fields.remove(key) {
                    Some(text) => <$t as HeaderValue>::parse_owned(key, text),
                    None => Err(HeaderError::Missing(key)),
                }
            }
            fn from_text(text: Option<Cow<'_, str>>, key: &'static str) -> Result<Self, HeaderError> {
                match text {
                    Some(text) => <$t as HeaderValue>::parse_cow(key, text),
                    None => Err(HeaderError::Missing(key)),
                }
            }
        }
        impl HeaderMember for $t {
            fn write_member(&self, key: &str, out: &mut Vec<u8>) {
                member_key(key, out);
                self.write_json(out);
            }
            fn write_plain(&self, key: &str, out: &mut PlainFields) {
                out.push_with(key, |text| self.write_text(text));
            }
        }
        impl HeaderMember for Option<$t> {
            fn write_member(&self, key: &str, out: &mut Vec<u8>) {
                if let Some(v) = self {
                    v.write_member(key, out);
                }
            }
            fn write_plain(&self, key: &str, out: &mut PlainFields) {
                if let Some(v) = self {
                    v.write_plain(key, out);
                }
            }
        }
        impl HeaderField for Option<$t> {
            fn read(fields: &ExtFields, key: &'static str) -> Result<Self, HeaderError> {
                fields.get(key).map(|text| <$t as HeaderValue>::parse(key, text)).transpose()
            }
            fn write(&self, fields: &mut Vec<(String, String)>, key: &'static str) {
                if let Some(v) = self {
                    fields.push((key.to_string(), v.render()));
                }
            }
            fn write_owned(self, fields: &mut Vec<(String, String)>, key: &'static str) {
                if let Some(v) = self {
                    fields.push((key.to_string(), v.into_text()));
                }
            }
            fn take(fields: &mut ExtFields, key: &'static str) -> Result<Self, HeaderError> {
                fields.remove(key).map(|text| <$t as HeaderValue>::parse_owned(key, text)).transpose()
            }
            fn from_text(text: Option<Cow<'_, str>>, key: &'static str) -> Result<Self, HeaderError> {
                text.map(|text| <$t as HeaderValue>::parse_cow(key, text)).transpose()
            }
        }
    )*};
}

header_field!(String, i32, i64, f64, bool);

/// Declares a header struct whose fields map to extFields keys. Required
/// fields have a plain type, optional ones an `Option`.
macro_rules! command_header {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$fmeta:meta])* $field:ident : $ty:ty => $key:literal ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Default)]
        pub struct $name {
            $( $(#[$fmeta])* pub $field: $ty, )*
        }

        impl $name {
            const KEYS: &'static [&'static str] = &[$($key),*];

            /// The indexes of the fields in the map's order (keys compared bytewise), worked
            /// out once per header type: sorting the keys per command was a visible share of
            /// every send's response.
            fn key_order() -> &'static [usize] {
                static ORDER: std::sync::OnceLock<Vec<usize>> = std::sync::OnceLock::new();
                ORDER.get_or_init(|| {
                    let mut order: Vec<usize> = (0..Self::KEYS.len()).collect();
                    order.sort_unstable_by(|&a, &b| Self::KEYS[a].cmp(Self::KEYS[b]));
                    order
                })
            }

            /// Renders the present fields, in the map's order, into either form.
            #[allow(unused_variables)]
            fn write_members(&self, out: &mut impl $crate::header::MemberSink) {
                let members: [(&'static str, &dyn $crate::header::HeaderMember); Self::KEYS.len()] =
                    [$( ($key, &self.$field) ),*];
                for &i in Self::key_order() {
                    let (key, value) = members[i];
                    out.value(key, value);
                }
            }
        }

        impl $crate::header::CommandHeader for $name {
            #[allow(unused_variables)]
            fn to_ext_fields(&self, fields: &mut $crate::command::ExtFields) {
                let mut pairs: Vec<(String, String)> = Vec::with_capacity(16);
                $( $crate::header::HeaderField::write(&self.$field, &mut pairs, $key); )*
                if fields.is_empty() {
                    // The usual case (a fresh command): one bulk build from the sorted pairs
                    // instead of a search and a node split per key.
                    *fields = pairs.into_iter().collect();
                } else {
                    fields.extend(pairs);
                }
            }
            #[allow(unused_variables)]
            fn into_ext_fields(self) -> $crate::command::ExtFields {
                let mut pairs: Vec<(String, String)> = Vec::with_capacity(16);
                $( $crate::header::HeaderField::write_owned(self.$field, &mut pairs, $key); )*
                pairs.into_iter().collect()
            }
            fn json_members(&self) -> String {
                let mut out: Vec<u8> = Vec::with_capacity(32 * Self::KEYS.len());
                self.write_members(&mut out);
                // Built from &str values and ASCII escapes, so always valid UTF-8.
                String::from_utf8(out)
                    .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
            }
            fn plain_fields(&self) -> $crate::command::RawExtFields {
                let mut out = $crate::command::PlainFields::with_capacity(
                    Self::KEYS.len(),
                    24 * Self::KEYS.len(),
                );
                self.write_members(&mut out);
                out.finish()
            }
            #[allow(unused_variables, unused_mut)]
            fn from_fields_text(
                members: $crate::command::FieldsText<'_>,
            ) -> Result<Self, $crate::header::HeaderError> {
                let mut slots: [Option<std::borrow::Cow<'_, str>>; Self::KEYS.len()] =
                    [$( { let _ = $key; None } ),*];
                members.fill(Self::KEYS, &mut slots);
                // Fields are initialised in declaration order, the order of KEYS and slots.
                let mut slots = slots.into_iter();
                Ok(Self { $(
                    $field: $crate::header::HeaderField::from_text(slots.next().flatten(), $key)?,
                )* })
            }
            #[allow(unused_variables, unused_mut)]
            fn from_owned_ext_fields(
                mut fields: $crate::command::ExtFields,
            ) -> Result<Self, $crate::header::HeaderError> {
                Ok(Self { $( $field: $crate::header::HeaderField::take(&mut fields, $key)?, )* })
            }
            #[allow(unused_variables)]
            fn from_ext_fields(
                fields: &$crate::command::ExtFields,
            ) -> Result<Self, $crate::header::HeaderError> {
                Ok(Self { $( $field: $crate::header::HeaderField::read(fields, $key)?, )* })
            }
        }
    };
}
pub(crate) use command_header;

#[cfg(test)]
mod tests {
    use super::*;

    command_header! {
        /// Test header.
        pub struct Sample {
            name: String => "name",
            count: i32 => "count",
            big: Option<i64> => "big",
            on: Option<bool> => "on",
        }
    }

    fn map(pairs: &[(&str, &str)]) -> ExtFields {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn missing_required_field_uses_java_text() {
        let err = Sample::from_ext_fields(&map(&[("name", "x")])).unwrap_err();
        assert_eq!(err, HeaderError::Missing("count"));
        assert_eq!(err.to_string(), "the custom field <count> is null");
    }

    #[test]
    fn non_numeric_is_a_clear_error() {
        let err = Sample::from_ext_fields(&map(&[("name", "x"), ("count", "ten")])).unwrap_err();
        assert!(err.to_string().contains("<count>"), "{err}");
        assert!(err.to_string().contains("\"ten\""), "{err}");
    }

    #[test]
    fn booleans_parse_like_java() {
        for (text, want) in [
            ("true", true),
            ("TRUE", true),
            ("True", true),
            ("1", false),
            ("yes", false),
            ("", false),
        ] {
            let h = Sample::from_ext_fields(&map(&[("name", "x"), ("count", "1"), ("on", text)]))
                .unwrap();
            assert_eq!(h.on, Some(want), "{text}");
        }
    }

    #[test]
    fn round_trips_and_ignores_unknown_keys() {
        let h = Sample {
            name: "n".into(),
            count: -3,
            big: Some(1 << 40),
            on: None,
        };
        let mut fields = h.ext_fields();
        assert_eq!(fields.get("count").map(String::as_str), Some("-3"));
        assert!(!fields.contains_key("on"));
        fields.insert("unknown".into(), "x".into());
        assert_eq!(Sample::from_ext_fields(&fields).unwrap(), h);
        assert_eq!(Sample::from_owned_ext_fields(fields).unwrap(), h);
    }

    #[test]
    fn owned_paths_match_the_borrowing_ones() {
        let h = Sample {
            name: "n\u{1}x".into(),
            count: 7,
            big: None,
            on: Some(true),
        };
        assert_eq!(h.clone().into_ext_fields(), h.ext_fields());
        let mut by_map = crate::command::RemotingCommand::new_request(1);
        by_map.ext_fields = h.ext_fields();
        let mut by_json = by_map.clone();
        by_json.ext_fields = ExtFields::new();
        by_json.ext_fields_json = Some(h.json_members());
        assert_eq!(
            String::from_utf8(crate::command::encode_json_header(&by_json).unwrap()).unwrap(),
            String::from_utf8(crate::command::encode_json_header(&by_map).unwrap()).unwrap()
        );
        for fields in [
            map(&[("name", "x")]),
            map(&[("name", "x"), ("count", "ten")]),
            map(&[("name", "x"), ("count", "1"), ("big", "2"), ("on", "TRUE")]),
            map(&[("count", "1"), ("big", "b")]),
        ] {
            assert_eq!(
                Sample::from_owned_ext_fields(fields.clone()),
                Sample::from_ext_fields(&fields)
            );
        }
    }

    /// A JSON value for one extFields member: strings (with escapes), integers, literals.
    fn arb_value() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop_oneof![
            "[a-z0-9\\x01\\x02\"\\\\é]{0,6}".prop_map(|v| {
                let mut out = Vec::new();
                crate::command::write_json_str(&v, &mut out);
                String::from_utf8(out).unwrap()
            }),
            any::<i32>().prop_map(|v| v.to_string()),
            Just("true".to_string()),
            Just("false".to_string()),
            Just("null".to_string()),
            Just("\"ten\"".to_string()),
            Just("99999999999".to_string()),
        ]
    }

    proptest::proptest! {
        #[test]
        fn raw_fields_decode_like_the_map(
            members in proptest::collection::vec(
                (proptest::sample::select(vec!["name", "count", "big", "on", "other", "\\u006eame"]), arb_value()),
                0..10,
            ),
        ) {
            let text = members
                .iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect::<Vec<_>>()
                .join(",");
            let header = format!("{{\"code\":1,\"extFields\":{{{text}}}}}");
            let mut cmd = crate::command::decode_json_header(header.as_bytes()).unwrap();
            proptest::prop_assert!(cmd.ext_fields.is_empty());
            let map = cmd.ext_fields_view().into_owned();
            let want = Sample::from_ext_fields(&map);
            proptest::prop_assert_eq!(cmd.decode_header::<Sample>(), want.clone());
            // The same members read by scanning the text instead of the recorded spans.
            if let Some(json) = cmd.ext_fields_raw.as_ref().and_then(|raw| raw.as_json()) {
                let rendered = crate::command::FieldsText::Rendered(json);
                proptest::prop_assert_eq!(Sample::from_fields_text(rendered), want.clone());
                proptest::prop_assert_eq!(rendered.to_map(), map.clone());
            }
            proptest::prop_assert_eq!(cmd.take_header::<Sample>(), want);
            proptest::prop_assert!(cmd.ext_fields_raw.is_none());
        }

        #[test]
        fn json_members_write_what_the_map_writes(
            name in "[a-z\\x01\"é]{0,6}", count in proptest::prelude::any::<i32>(),
            big in proptest::prelude::any::<Option<i64>>(), on in proptest::prelude::any::<Option<bool>>(),
        ) {
            let h = Sample { name, count, big, on };
            let mut by_map = crate::command::RemotingCommand::new_request(1);
            by_map.ext_fields = h.ext_fields();
            let mut by_json = by_map.clone();
            by_json.ext_fields = ExtFields::new();
            by_json.ext_fields_json = Some(h.json_members());
            proptest::prop_assert_eq!(
                crate::command::encode_json_header(&by_json).unwrap(),
                crate::command::encode_json_header(&by_map).unwrap()
            );
        }
    }
}
