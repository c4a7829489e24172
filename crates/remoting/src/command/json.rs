//! The JSON header (serialize type 0, fact sheet §1.2) in fastjson's shape.
//!
//! Output: keys in alphabetical order, null/empty members omitted, extFields
//! values always strings, `serializeTypeCurrentRPC` = "JSON". Input is lenient
//! the way Java's is: unknown keys are ignored, missing members take defaults,
//! and extFields values of any scalar JSON type (ali-ons sends numbers and
//! booleans) are stored as their text; JSON `null` values are dropped.
//!
//! Both directions go through `json_fast` first (no serde, no intermediate buffers); input it
//! does not recognise is read here with serde, which stays the reference for leniency and
//! error messages.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{ExtFields, LanguageCode, RemotingCommand, SerializeType};
use crate::frame::FrameError;

#[cfg(test)]
#[derive(serde::Serialize)]
struct JsonHeaderOut<'a> {
    // Field order is the fastjson (alphabetical) order.
    code: i32,
    #[serde(rename = "extFields", skip_serializing_if = "Option::is_none")]
    ext_fields: Option<&'a ExtFields>,
    flag: i32,
    language: &'static str,
    opaque: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    remark: Option<&'a str>,
    #[serde(rename = "serializeTypeCurrentRPC")]
    serialize_type_current_rpc: &'static str,
    version: i32,
}

#[derive(Deserialize)]
struct JsonHeaderIn {
    #[serde(default)]
    code: i32,
    #[serde(default)]
    language: Option<Value>,
    #[serde(default)]
    version: i32,
    #[serde(default)]
    opaque: i32,
    #[serde(default)]
    flag: i32,
    #[serde(default)]
    remark: Option<String>,
    #[serde(rename = "extFields", default)]
    ext_fields: Option<BTreeMap<String, ExtValue>>,
}

/// One extFields value read straight into its text form (no intermediate
/// `Value` for the common scalar case); `None` for JSON null.
struct ExtValue(Option<String>);

impl<'de> Deserialize<'de> for ExtValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = ExtValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an extFields value")
            }
            fn visit_str<E>(self, v: &str) -> Result<ExtValue, E> {
                Ok(ExtValue(Some(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<ExtValue, E> {
                Ok(ExtValue(Some(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<ExtValue, E> {
                Ok(ExtValue(Some(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<ExtValue, E> {
                Ok(ExtValue(Some(v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<ExtValue, E> {
                Ok(ExtValue(Some(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<ExtValue, E> {
                // Same text as serde_json's Number formatting.
                Ok(ExtValue(Some(
                    serde_json::Number::from_f64(v)
                        .map(|n| n.to_string())
                        .unwrap_or_default(),
                )))
            }
            fn visit_unit<E>(self) -> Result<ExtValue, E> {
                Ok(ExtValue(None))
            }
            fn visit_none<E>(self) -> Result<ExtValue, E> {
                Ok(ExtValue(None))
            }
            // Not produced by any known client; keeping the JSON text is the
            // least surprising lossless choice.
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<ExtValue, A::Error> {
                let v = Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))?;
                Ok(ExtValue(Some(v.to_string())))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<ExtValue, A::Error> {
                let v = Value::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ExtValue(Some(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

/// Serializes the command's header as fastjson would.
pub fn encode_json_header(cmd: &RemotingCommand) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(128);
    super::json_fast::write_header(cmd, &mut out);
    Ok(out)
}

/// Parses a JSON header; the returned command has no body.
pub fn decode_json_header(header: &[u8]) -> Result<RemotingCommand, FrameError> {
    // serde would also accept a JSON array in the fields' order; Java would not.
    if header.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(FrameError::InvalidJsonHeader(
            "the header is not a JSON object".into(),
        ));
    }
    match super::json_fast::read_header(header) {
        Some(cmd) => Ok(cmd),
        None => decode_json_header_serde(header),
    }
}

/// The serde rendering of the header: the reference the fast writer is tested against.
#[cfg(test)]
pub(crate) fn encode_json_header_serde(cmd: &RemotingCommand) -> Result<Vec<u8>, FrameError> {
    let out = JsonHeaderOut {
        code: cmd.code,
        ext_fields: if cmd.ext_fields.is_empty() {
            None
        } else {
            Some(&cmd.ext_fields)
        },
        flag: cmd.flag,
        language: cmd.language.name(),
        opaque: cmd.opaque,
        remark: cmd.remark.as_deref(),
        serialize_type_current_rpc: "JSON",
        version: cmd.version,
    };
    serde_json::to_vec(&out).map_err(|e| FrameError::Unencodable(e.to_string()))
}

/// The lenient serde reading of a header: every shape the fast reader leaves alone, and the
/// error messages.
pub(crate) fn decode_json_header_serde(header: &[u8]) -> Result<RemotingCommand, FrameError> {
    if header.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(FrameError::InvalidJsonHeader(
            "the header is not a JSON object".into(),
        ));
    }
    let parsed: JsonHeaderIn =
        serde_json::from_slice(header).map_err(|e| FrameError::InvalidJsonHeader(e.to_string()))?;
    let language = match parsed.language {
        Some(Value::String(name)) => LanguageCode::from_name(&name),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|v| u8::try_from(v).ok())
            .map(LanguageCode::from_code)
            .unwrap_or(LanguageCode::Other),
        _ => LanguageCode::Other,
    };
    let ext_fields: ExtFields = parsed
        .ext_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| v.0.map(|v| (k, v)))
        .collect();
    Ok(RemotingCommand {
        code: parsed.code,
        language,
        version: parsed.version,
        opaque: parsed.opaque,
        flag: parsed.flag,
        remark: parsed.remark,
        ext_fields,
        ext_fields_json: None,
        ext_fields_raw: None,
        body: None,
        serialize_type: SerializeType::Json,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_fastjson() {
        let mut cmd = RemotingCommand {
            code: 105,
            language: LanguageCode::Java,
            version: 401,
            opaque: 3,
            ..Default::default()
        };
        cmd.ext_fields.insert("topic".into(), "TopicTest".into());
        let text = String::from_utf8(encode_json_header(&cmd).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"code":105,"extFields":{"topic":"TopicTest"},"flag":0,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON","version":401}"#
        );
        cmd.ext_fields.clear();
        cmd.remark = Some("oops".into());
        let text = String::from_utf8(encode_json_header(&cmd).unwrap()).unwrap();
        assert_eq!(
            text,
            r#"{"code":105,"flag":0,"language":"JAVA","opaque":3,"remark":"oops","serializeTypeCurrentRPC":"JSON","version":401}"#
        );
    }

    #[test]
    fn accepts_scalar_ext_field_values_and_unknown_keys() {
        let raw = br#"{"code":310,"extFields":{"a":"pg","e":0,"k":false,"x":1.5,"n":null},"flag":0,"language":"NODE_JS","opaque":7,"version":1,"future":{"x":1}}"#;
        let cmd = decode_json_header(raw).unwrap();
        assert_eq!(cmd.code, 310);
        assert_eq!(cmd.language, LanguageCode::NodeJs);
        assert_eq!(cmd.ext_field("a").as_deref(), Some("pg"));
        assert_eq!(cmd.ext_field("e").as_deref(), Some("0"));
        assert_eq!(cmd.ext_field("k").as_deref(), Some("false"));
        assert_eq!(cmd.ext_field("x").as_deref(), Some("1.5"));
        assert_eq!(cmd.ext_field("n"), None);
        assert_eq!(cmd.opaque, 7);
        let raw = br#"{"code":1,"extFields":{"arr":[1,"a"],"obj":{"b":true},"neg":-3,"big":18446744073709551615}}"#;
        let cmd = decode_json_header(raw).unwrap();
        assert_eq!(cmd.ext_field("arr").as_deref(), Some(r#"[1,"a"]"#));
        assert_eq!(cmd.ext_field("obj").as_deref(), Some(r#"{"b":true}"#));
        assert_eq!(cmd.ext_field("neg").as_deref(), Some("-3"));
        assert_eq!(
            cmd.ext_field("big").as_deref(),
            Some("18446744073709551615")
        );
    }

    #[test]
    fn rejects_invalid_json_with_a_clear_error() {
        let err = decode_json_header(b"{\"code\":").unwrap_err();
        assert!(err.to_string().contains("JSON header"), "{err}");
        let err = decode_json_header(b"[1,2]").unwrap_err();
        assert!(err.to_string().contains("JSON header"), "{err}");
    }
}
