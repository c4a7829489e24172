//! `RemotingCommand`: one request or response of the RocketMQ remoting protocol
//! (fact sheet §1), independent of how its header is serialized.
//!
//! Invariants: `flag` bit 0 marks a response, bit 1 a oneway request; a response
//! carries its request's `opaque`. `ext_fields` is a sorted map so both header
//! encodings write keys in a stable, fastjson-like order. A body that is empty
//! on the wire is `None`. A decoded command keeps its extFields unparsed in `ext_fields_raw`
//! (the map is then empty); the accessors below read every form, and `ext_fields_mut` turns the
//! others into the map.

mod binary;
mod json;
mod json_fast;
mod raw_fields;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicI32, Ordering};

use bytes::Bytes;

use crate::code;
use crate::frame::FrameError;
use crate::header::{CommandHeader, HeaderError};

pub use binary::{decode_binary_header, encode_binary_header, write_binary_header};
pub use json::{decode_json_header, encode_json_header};
pub(crate) use json_fast::write_decimal;
pub use json_fast::write_header as write_json_header;
pub(crate) use json_fast::write_i64 as write_json_i64;
pub(crate) use json_fast::write_str as write_json_str;
pub use raw_fields::{FieldsText, Members, PlainFields, RawExtFields};

/// The custom header fields of a command (`extFields`): string keys to string values.
pub type ExtFields = BTreeMap<String, String>;

/// Flag bit 0: the command is a response.
pub const FLAG_RESPONSE: i32 = 1;
/// Flag bit 1: the request is oneway; no response will be sent.
pub const FLAG_ONEWAY: i32 = 1 << 1;

/// The version this implementation reports (`MQVersion.Version.V5_3_3` ordinal),
/// high enough that peers send standard JSON (≥ V4_9_4 = 401).
pub const CURRENT_VERSION: i32 = 479;
/// The name of [`CURRENT_VERSION`] (what Java's `MQVersion.getVersionDesc` gives for it).
pub const CURRENT_VERSION_NAME: &str = "V5_3_3";

/// `MQVersion` ordinal of V4_9_4: from this version on, clients accept (and name
/// servers send) route JSON with quoted numeric map keys.
pub const VERSION_V4_9_4: i32 = 401;

static NEXT_OPAQUE: AtomicI32 = AtomicI32::new(0);

/// A fresh request id, unique within this process until the counter wraps (as Java's).
pub fn next_opaque() -> i32 {
    NEXT_OPAQUE.fetch_add(1, Ordering::Relaxed)
}

/// How a command's header is serialized (the high byte of the header-length word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SerializeType {
    /// fastjson-style JSON text (type byte 0).
    #[default]
    Json,
    /// The compact ROCKETMQ binary layout (type byte 1).
    RocketMq,
}

impl SerializeType {
    /// The type byte written on the wire.
    pub fn code(self) -> u8 {
        match self {
            SerializeType::Json => 0,
            SerializeType::RocketMq => 1,
        }
    }

    /// The serialize type for a type byte, if it is one of the two defined ones.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(SerializeType::Json),
            1 => Some(SerializeType::RocketMq),
            _ => None,
        }
    }
}

/// The sender's implementation language (`LanguageCode`); names travel in JSON,
/// the byte in the binary header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum LanguageCode {
    Java,
    Cpp,
    Dotnet,
    Python,
    Delphi,
    Erlang,
    Ruby,
    #[default]
    Other,
    Http,
    Go,
    Php,
    Oms,
    Rust,
    NodeJs,
}

impl LanguageCode {
    /// Every language, in wire-byte order.
    pub const ALL: [LanguageCode; 14] = [
        LanguageCode::Java,
        LanguageCode::Cpp,
        LanguageCode::Dotnet,
        LanguageCode::Python,
        LanguageCode::Delphi,
        LanguageCode::Erlang,
        LanguageCode::Ruby,
        LanguageCode::Other,
        LanguageCode::Http,
        LanguageCode::Go,
        LanguageCode::Php,
        LanguageCode::Oms,
        LanguageCode::Rust,
        LanguageCode::NodeJs,
    ];

    /// The byte used by the binary header.
    pub fn code(self) -> u8 {
        // ALL is in byte order, so the index is the byte.
        Self::ALL.iter().position(|l| *l == self).unwrap_or(7) as u8
    }

    /// The language for a binary-header byte; unknown bytes map to `Other`
    /// because a newer client's language must not break decoding.
    pub fn from_code(code: u8) -> Self {
        Self::ALL
            .get(code as usize)
            .copied()
            .unwrap_or(LanguageCode::Other)
    }

    /// The Java enum name used in JSON headers.
    pub fn name(self) -> &'static str {
        match self {
            LanguageCode::Java => "JAVA",
            LanguageCode::Cpp => "CPP",
            LanguageCode::Dotnet => "DOTNET",
            LanguageCode::Python => "PYTHON",
            LanguageCode::Delphi => "DELPHI",
            LanguageCode::Erlang => "ERLANG",
            LanguageCode::Ruby => "RUBY",
            LanguageCode::Other => "OTHER",
            LanguageCode::Http => "HTTP",
            LanguageCode::Go => "GO",
            LanguageCode::Php => "PHP",
            LanguageCode::Oms => "OMS",
            LanguageCode::Rust => "RUST",
            LanguageCode::NodeJs => "NODE_JS",
        }
    }

    /// The language for a JSON enum name; unknown names map to `Other`.
    pub fn from_name(name: &str) -> Self {
        Self::ALL
            .iter()
            .copied()
            .find(|l| l.name() == name)
            .unwrap_or(LanguageCode::Other)
    }
}

impl fmt::Display for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One remoting command (request or response).
#[derive(Debug, Clone)]
pub struct RemotingCommand {
    /// Request code for requests, response code for responses.
    pub code: i32,
    pub language: LanguageCode,
    pub version: i32,
    /// Request id; a response copies its request's.
    pub opaque: i32,
    /// Bit 0 = response, bit 1 = oneway.
    pub flag: i32,
    pub remark: Option<String>,
    pub ext_fields: ExtFields,
    /// extFields already rendered as the members of a JSON object (`"a":"x","b":"1"`, keys in
    /// ascending order, values JSON strings), for the per-message send path that would
    /// otherwise build a map only to write it. The JSON writer emits these members as they are
    /// when they are the command's only fields; the accessors read them like the map. Decoders
    /// never set it.
    pub ext_fields_json: Option<String>,
    /// extFields of a decoded command, as received (`ext_fields` is then empty), or rendered for
    /// a ROCKETMQ header (`with_header_rendered`): typed headers read them without a map. Use the accessors (`decode_header`,
    /// `take_header`, `ext_field`, `ext_fields_view`, `ext_fields_mut`) rather than the map
    /// field on a decoded command.
    pub ext_fields_raw: Option<RawExtFields>,
    pub body: Option<Bytes>,
    /// How the header is (or was) serialized on the wire.
    pub serialize_type: SerializeType,
}

impl Default for RemotingCommand {
    fn default() -> Self {
        RemotingCommand {
            code: 0,
            language: LanguageCode::Rust,
            version: CURRENT_VERSION,
            opaque: 0,
            flag: 0,
            remark: None,
            ext_fields: ExtFields::new(),
            ext_fields_json: None,
            ext_fields_raw: None,
            body: None,
            serialize_type: SerializeType::Json,
        }
    }
}

/// Where a command's extFields are held.
enum FieldsSource<'a> {
    /// In the map (possibly empty), nowhere else.
    Map(&'a ExtFields),
    /// Only in received or pre-rendered JSON members.
    Text(FieldsText<'a>),
    /// In more than one place: merged through a map.
    Mixed,
}

/// Equal when every member is, comparing extFields by content whichever form holds them.
impl PartialEq for RemotingCommand {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code
            && self.language == other.language
            && self.version == other.version
            && self.opaque == other.opaque
            && self.flag == other.flag
            && self.remark == other.remark
            && self.body == other.body
            && self.serialize_type == other.serialize_type
            && self.ext_fields_view() == other.ext_fields_view()
    }
}

impl RemotingCommand {
    /// A new request with a fresh opaque and no fields.
    pub fn new_request(code: i32) -> Self {
        RemotingCommand {
            code,
            opaque: next_opaque(),
            ..Default::default()
        }
    }

    /// A new request whose extFields are filled from a typed header.
    pub fn request_with_header<H: CommandHeader>(code: i32, header: &H) -> Self {
        let mut cmd = Self::new_request(code);
        header.to_ext_fields(&mut cmd.ext_fields);
        cmd
    }

    /// A new request whose extFields are the typed header's, its strings moved in.
    pub fn request_with_owned_header<H: CommandHeader>(code: i32, header: H) -> Self {
        let mut cmd = Self::new_request(code);
        cmd.ext_fields = header.into_ext_fields();
        cmd
    }

    /// A new request whose extFields are pre-rendered JSON members (see `ext_fields_json`);
    /// only for commands sent with a JSON header.
    pub fn request_with_json_fields(code: i32, members: String) -> Self {
        let mut cmd = Self::new_request(code);
        cmd.ext_fields_json = Some(members);
        cmd
    }

    /// A new request with a ROCKETMQ header whose extFields are already rendered (typed
    /// headers' `plain_fields`), written out as they are.
    pub fn request_with_plain_fields(code: i32, fields: RawExtFields) -> Self {
        let mut cmd = Self::new_request(code);
        cmd.serialize_type = SerializeType::RocketMq;
        cmd.ext_fields_raw = Some(fields);
        cmd
    }

    /// A response to `request`: same opaque, same header serialization, RESPONSE flag set.
    pub fn response_to(request: &RemotingCommand, code: i32, remark: Option<String>) -> Self {
        RemotingCommand {
            code,
            opaque: request.opaque,
            flag: FLAG_RESPONSE,
            remark,
            serialize_type: request.serialize_type,
            ..Default::default()
        }
    }

    /// A SUCCESS response to `request`.
    pub fn success_to(request: &RemotingCommand) -> Self {
        Self::response_to(request, code::response::SUCCESS, None)
    }

    /// An error response to `request` with the given code and remark.
    pub fn error_to(request: &RemotingCommand, code: i32, remark: impl Into<String>) -> Self {
        Self::response_to(request, code, Some(remark.into()))
    }

    pub fn is_response(&self) -> bool {
        self.flag & FLAG_RESPONSE != 0
    }

    pub fn is_oneway(&self) -> bool {
        self.flag & FLAG_ONEWAY != 0
    }

    /// Marks this request oneway (the peer will not answer).
    pub fn mark_oneway(&mut self) {
        self.flag |= FLAG_ONEWAY;
    }

    /// Marks this command as a response.
    pub fn mark_response(&mut self) {
        self.flag |= FLAG_RESPONSE;
    }

    /// Sets the body (an empty slice means no body, as on the wire).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        let body = body.into();
        self.body = if body.is_empty() { None } else { Some(body) };
        self
    }

    /// Sets the remark.
    pub fn with_remark(mut self, remark: impl Into<String>) -> Self {
        self.remark = Some(remark.into());
        self
    }

    /// Adds the typed header's fields to extFields.
    pub fn with_header<H: CommandHeader>(mut self, header: &H) -> Self {
        header.to_ext_fields(self.ext_fields_mut());
        self
    }

    /// Where this command's extFields are, for the accessors below.
    fn fields_source(&self) -> FieldsSource<'_> {
        let raw = self.ext_fields_raw.as_ref();
        let json = self.ext_fields_json.as_deref();
        match (raw, json, self.ext_fields.is_empty()) {
            (None, None, _) => FieldsSource::Map(&self.ext_fields),
            (Some(raw), None, true) => FieldsSource::Text(FieldsText::Received(raw)),
            (None, Some(text), true) => FieldsSource::Text(FieldsText::Rendered(text)),
            _ => FieldsSource::Mixed,
        }
    }

    /// Decodes the typed custom header from extFields.
    pub fn decode_header<H: CommandHeader>(&self) -> Result<H, HeaderError> {
        match self.fields_source() {
            FieldsSource::Map(map) => H::from_ext_fields(map),
            FieldsSource::Text(text) => H::from_fields_text(text),
            FieldsSource::Mixed => H::from_ext_fields(&self.ext_fields_view()),
        }
    }

    /// Decodes the typed custom header, moving its strings out of extFields (left empty).
    pub fn take_header<H: CommandHeader>(&mut self) -> Result<H, HeaderError> {
        match self.fields_source() {
            FieldsSource::Text(FieldsText::Received(_)) => match self.ext_fields_raw.take() {
                Some(raw) => H::from_fields_text(FieldsText::Received(&raw)),
                None => H::from_owned_ext_fields(ExtFields::new()),
            },
            FieldsSource::Text(FieldsText::Rendered(_)) => {
                let text = self.ext_fields_json.take().unwrap_or_default();
                H::from_fields_text(FieldsText::Rendered(&text))
            }
            FieldsSource::Map(_) | FieldsSource::Mixed => {
                H::from_owned_ext_fields(std::mem::take(self.ext_fields_mut()))
            }
        }
    }

    /// The value of one extField.
    pub fn ext_field(&self, key: &str) -> Option<Cow<'_, str>> {
        if let Some(v) = self.ext_fields.get(key) {
            return Some(Cow::Borrowed(v.as_str()));
        }
        let json = self.ext_fields_json.as_deref();
        json.and_then(|text| FieldsText::Rendered(text).get(key))
            .or_else(|| self.ext_fields_raw.as_ref().and_then(|raw| raw.get(key)))
    }

    /// The extFields as a map, built only when they are not held in the map alone.
    pub fn ext_fields_view(&self) -> Cow<'_, ExtFields> {
        match self.fields_source() {
            FieldsSource::Map(map) => Cow::Borrowed(map),
            _ => {
                let mut map = self.ext_fields.clone();
                let mut all = self.non_map_fields();
                // Fields set on the map override pre-rendered ones, which override received ones.
                all.append(&mut map);
                Cow::Owned(all)
            }
        }
    }

    /// The received and pre-rendered fields as one map (pre-rendered ones win).
    fn non_map_fields(&self) -> ExtFields {
        let mut map = self
            .ext_fields_raw
            .as_ref()
            .map(RawExtFields::to_map)
            .unwrap_or_default();
        if let Some(text) = self.ext_fields_json.as_deref() {
            map.append(&mut FieldsText::Rendered(text).to_map());
        }
        map
    }

    /// The extFields map for changing: received and pre-rendered fields are moved into it first.
    pub fn ext_fields_mut(&mut self) -> &mut ExtFields {
        if self.ext_fields_raw.is_some() || self.ext_fields_json.is_some() {
            let mut map = self.non_map_fields();
            map.append(&mut self.ext_fields);
            self.ext_fields = map;
            self.ext_fields_raw = None;
            self.ext_fields_json = None;
        }
        &mut self.ext_fields
    }

    /// Adds the typed header's fields rendered straight to the form this command's header is
    /// written from when the command has no fields yet (the per-message responses: no map
    /// built only to be written): JSON members for a JSON header, plain fields for a ROCKETMQ
    /// one. Otherwise like `with_header`. Read back through the accessors, the result is the
    /// same.
    pub fn with_header_rendered<H: CommandHeader>(mut self, header: &H) -> Self {
        if matches!(self.fields_source(), FieldsSource::Map(m) if m.is_empty()) {
            match self.serialize_type {
                SerializeType::Json => self.ext_fields_json = Some(header.json_members()),
                SerializeType::RocketMq => self.ext_fields_raw = Some(header.plain_fields()),
            }
            self
        } else {
            self.with_header(header)
        }
    }

    /// The body bytes, or an empty slice.
    pub fn body_bytes(&self) -> &[u8] {
        self.body.as_deref().unwrap_or(&[])
    }

    /// A short name for logs: the request or response code's constant name.
    pub fn code_name(&self) -> &'static str {
        if self.is_response() {
            code::response_name(self.code)
        } else {
            code::request_name(self.code)
        }
    }

    /// Serializes the header in this command's serialize type.
    pub fn encode_header(&self) -> Result<Vec<u8>, FrameError> {
        match self.serialize_type {
            SerializeType::Json => encode_json_header(self),
            SerializeType::RocketMq => encode_binary_header(self),
        }
    }

    /// Decodes a header of the given type; the body is left `None`.
    pub fn decode_header_bytes(
        serialize_type: SerializeType,
        header: &[u8],
    ) -> Result<RemotingCommand, FrameError> {
        match serialize_type {
            SerializeType::Json => decode_json_header(header),
            SerializeType::RocketMq => decode_binary_header(header),
        }
    }
}

/// Asserts that a command whose fields were rendered writes the header bytes of the command
/// built through the map, and reads back as `want`.
#[cfg(test)]
pub(crate) fn assert_rendered_like_the_map<H>(
    rendered: &RemotingCommand,
    by_map: &RemotingCommand,
    want: &H,
) where
    H: CommandHeader + PartialEq + fmt::Debug + Clone,
{
    assert_eq!(
        rendered.encode_header().unwrap(),
        by_map.encode_header().unwrap()
    );
    assert_eq!(rendered.decode_header::<H>(), Ok(want.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_codes_match_java_bytes() {
        assert_eq!(LanguageCode::Java.code(), 0);
        assert_eq!(LanguageCode::Go.code(), 9);
        assert_eq!(LanguageCode::Rust.code(), 12);
        assert_eq!(LanguageCode::NodeJs.code(), 13);
        assert_eq!(LanguageCode::from_code(200), LanguageCode::Other);
        assert_eq!(LanguageCode::from_name("NODE_JS"), LanguageCode::NodeJs);
        assert_eq!(LanguageCode::from_name("COBOL"), LanguageCode::Other);
    }

    #[test]
    fn response_copies_opaque_and_sets_flag() {
        let mut req = RemotingCommand::new_request(105);
        req.serialize_type = SerializeType::RocketMq;
        let resp = RemotingCommand::error_to(&req, 17, "no route");
        assert!(resp.is_response());
        assert!(!resp.is_oneway());
        assert_eq!(resp.opaque, req.opaque);
        assert_eq!(resp.serialize_type, SerializeType::RocketMq);
        assert_eq!(resp.code_name(), "TOPIC_NOT_EXIST");
        let mut one = RemotingCommand::new_request(15);
        one.mark_oneway();
        assert!(one.is_oneway() && !one.is_response());
    }

    #[test]
    fn opaques_increase() {
        let a = RemotingCommand::new_request(1).opaque;
        let b = RemotingCommand::new_request(1).opaque;
        assert_ne!(a, b);
    }

    #[test]
    fn rendered_headers_read_and_write_like_the_map() {
        use crate::header::SendMessageResponseHeader;
        let h = SendMessageResponseHeader {
            msg_id: "ID\u{1}".into(),
            queue_id: 3,
            queue_offset: -9,
            msg_region: Some("R".into()),
            ..Default::default()
        };
        let req = RemotingCommand::new_request(310);
        let by_map = RemotingCommand::success_to(&req).with_header(&h);
        let by_json = RemotingCommand::success_to(&req).with_header_rendered(&h);
        assert!(by_json.ext_fields.is_empty() && by_json.ext_fields_json.is_some());
        assert_eq!(by_json, by_map);
        assert_eq!(
            by_json.encode_header().unwrap(),
            by_map.encode_header().unwrap()
        );
        assert_eq!(by_json.ext_field("queueOffset").as_deref(), Some("-9"));
        assert_eq!(
            by_json.decode_header::<SendMessageResponseHeader>(),
            Ok(h.clone())
        );
        // Answering a ROCKETMQ-header request, the fields are rendered plain, and written as the
        // map would be.
        let mut binary_req = RemotingCommand::new_request(310);
        binary_req.serialize_type = SerializeType::RocketMq;
        let binary = RemotingCommand::success_to(&binary_req).with_header_rendered(&h);
        assert!(binary.ext_fields_json.is_none() && binary.ext_fields.is_empty());
        assert!(binary
            .ext_fields_raw
            .as_ref()
            .is_some_and(|raw| raw.as_json().is_none()));
        let mut binary_by_map = by_map.clone();
        binary_by_map.serialize_type = SerializeType::RocketMq;
        binary_by_map.opaque = binary.opaque;
        assert_eq!(binary, binary_by_map);
        assert_rendered_like_the_map(&binary, &binary_by_map, &h);
        assert_eq!(binary.ext_field("queueOffset").as_deref(), Some("-9"));
        for st in [SerializeType::Json, SerializeType::RocketMq] {
            let mut a = by_json.clone();
            let mut b = by_map.clone();
            a.serialize_type = st;
            b.serialize_type = st;
            assert_eq!(a.encode_header().unwrap(), b.encode_header().unwrap());
        }
        // Adding to the map keeps the rendered fields.
        let mut mixed = by_json.clone();
        mixed.ext_fields.insert("extra".into(), "1".into());
        assert_eq!(mixed.ext_field("msgId").as_deref(), Some("ID\u{1}"));
        let mut expected = by_map.clone();
        expected.ext_fields.insert("extra".into(), "1".into());
        assert_eq!(
            mixed.encode_header().unwrap(),
            expected.encode_header().unwrap()
        );
        assert_eq!(
            mixed.clone().take_header::<SendMessageResponseHeader>(),
            Ok(h)
        );
        mixed.ext_fields_mut().remove("msgId");
        assert!(mixed.ext_fields_json.is_none());
        assert_eq!(mixed.ext_field("msgId"), None);
        // A second header on a rendered command goes through the map.
        let twice =
            by_json.with_header_rendered(&crate::header::OffsetResponseHeader { offset: 5 });
        assert_eq!(twice.ext_field("offset").as_deref(), Some("5"));
        assert_eq!(twice.ext_field("queueId").as_deref(), Some("3"));
    }
}
