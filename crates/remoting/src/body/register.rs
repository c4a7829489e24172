//! Broker registration bodies (fact sheet §3.6): `RegisterBrokerBody`,
//! `TopicConfigSerializeWrapper`, `TopicConfig` and `DataVersion`, in their JSON
//! form and in the zlib "compressed" form (`compressed=true`).
//!
//! Compressed layout (inside one zlib stream, big-endian): i32 len + DataVersion
//! JSON; i32 topic count; per topic i32 len + TopicConfig text
//! ("name read write perm filterType[ attributesJSON]"); i32 len +
//! filterServerList JSON; then, if present, i32 count + per static-topic mapping
//! i32 len + JSON (kept as raw JSON). Decompression is capped at
//! `MAX_DECOMPRESSED` bytes and every length is checked before use.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use super::{from_json, to_json, BodyError};

/// Largest decompressed register body accepted.
pub const MAX_DECOMPRESSED: u64 = 64 * 1024 * 1024;

/// A monotonically changing version of a broker's (or name server's) metadata.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DataVersion {
    pub counter: i64,
    pub state_version: i64,
    pub timestamp: i64,
}

impl DataVersion {
    /// Bumps the counter and stamps the time, as Java's `nextVersion`.
    pub fn next_version(&mut self, now_millis: i64) {
        self.counter += 1;
        self.timestamp = now_millis;
    }
}

fn default_perm() -> i32 {
    6
}

fn default_queue_nums() -> i32 {
    16
}

fn single_tag() -> String {
    "SINGLE_TAG".to_string()
}

/// One topic's configuration on a broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfig {
    pub attributes: BTreeMap<String, String>,
    pub order: bool,
    #[serde(default = "default_perm")]
    pub perm: i32,
    #[serde(default = "default_queue_nums")]
    pub read_queue_nums: i32,
    #[serde(default = "single_tag")]
    pub topic_filter_type: String,
    pub topic_name: String,
    pub topic_sys_flag: i32,
    #[serde(default = "default_queue_nums")]
    pub write_queue_nums: i32,
}

impl Default for TopicConfig {
    fn default() -> Self {
        TopicConfig {
            attributes: BTreeMap::new(),
            order: false,
            perm: default_perm(),
            read_queue_nums: default_queue_nums(),
            topic_filter_type: single_tag(),
            topic_name: String::new(),
            topic_sys_flag: 0,
            write_queue_nums: default_queue_nums(),
        }
    }
}

impl TopicConfig {
    /// The compressed-register text form.
    pub fn encode_text(&self) -> String {
        let attrs = String::from_utf8(to_json(&self.attributes)).unwrap_or_default();
        format!(
            "{} {} {} {} {} {}",
            self.topic_name,
            self.read_queue_nums,
            self.write_queue_nums,
            self.perm,
            self.topic_filter_type,
            attrs
        )
    }

    /// Parses the compressed-register text form.
    pub fn decode_text(text: &str) -> Result<Self, BodyError> {
        let bad = |why: &str| BodyError::Compressed(format!("topic config {text:?}: {why}"));
        let parts: Vec<&str> = text.splitn(6, ' ').collect();
        if parts.len() < 5 {
            return Err(bad("expected at least 5 space-separated fields"));
        }
        let num = |s: &str| {
            s.parse::<i32>()
                .map_err(|_| bad("queue counts and perm must be integers"))
        };
        let attributes = match parts.get(5) {
            Some(json) if !json.trim().is_empty() => from_json(json.as_bytes())?,
            _ => BTreeMap::new(),
        };
        Ok(TopicConfig {
            topic_name: parts[0].to_string(),
            read_queue_nums: num(parts[1])?,
            write_queue_nums: num(parts[2])?,
            perm: num(parts[3])?,
            topic_filter_type: parts[4].to_string(),
            attributes,
            ..Default::default()
        })
    }
}

/// A broker's topic configs with their version.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TopicConfigSerializeWrapper {
    pub data_version: DataVersion,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mapping_data_version: Option<DataVersion>,
    pub topic_config_table: BTreeMap<String, TopicConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_queue_mapping_detail_map: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_queue_mapping_info_map: Option<serde_json::Value>,
}

/// REGISTER_BROKER body.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterBrokerBody {
    pub filter_server_list: Vec<String>,
    pub topic_config_serialize_wrapper: TopicConfigSerializeWrapper,
}

impl RegisterBrokerBody {
    /// Decodes either form, as announced by the header's `compressed` flag.
    pub fn decode(bytes: &[u8], compressed: bool) -> Result<Self, BodyError> {
        if compressed {
            Self::decode_compressed(bytes)
        } else {
            from_json(bytes)
        }
    }

    /// The zlib-compressed form.
    pub fn encode_compressed(&self) -> Vec<u8> {
        let mut raw = Vec::new();
        let wrapper = &self.topic_config_serialize_wrapper;
        put_block(&mut raw, &to_json(&wrapper.data_version));
        raw.extend_from_slice(&(wrapper.topic_config_table.len() as i32).to_be_bytes());
        for tc in wrapper.topic_config_table.values() {
            put_block(&mut raw, tc.encode_text().as_bytes());
        }
        put_block(&mut raw, &to_json(&self.filter_server_list));
        raw.extend_from_slice(&0i32.to_be_bytes());
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing into a Vec cannot fail.
        let _ = enc.write_all(&raw);
        enc.finish().unwrap_or_default()
    }

    /// Parses the zlib-compressed form.
    pub fn decode_compressed(bytes: &[u8]) -> Result<Self, BodyError> {
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(bytes)
            .take(MAX_DECOMPRESSED + 1)
            .read_to_end(&mut raw)
            .map_err(|e| BodyError::Compressed(format!("zlib: {e}")))?;
        if raw.len() as u64 > MAX_DECOMPRESSED {
            return Err(BodyError::Compressed(format!(
                "decompresses to more than {MAX_DECOMPRESSED} bytes"
            )));
        }
        let mut r = Cursor { buf: &raw, pos: 0 };
        let data_version: DataVersion = from_json(r.block("dataVersion")?)?;
        let count = r.count("topic count")?;
        let mut table = BTreeMap::new();
        for _ in 0..count {
            let text = std::str::from_utf8(r.block("topic config")?)
                .map_err(|_| BodyError::Compressed("topic config is not UTF-8".into()))?;
            let tc = TopicConfig::decode_text(text)?;
            table.insert(tc.topic_name.clone(), tc);
        }
        let filter_server_list: Vec<String> = from_json(r.block("filterServerList")?)?;
        let mut mapping = serde_json::Map::new();
        if r.pos < raw.len() {
            let n = r.count("static topic mapping count")?;
            for i in 0..n {
                let v: serde_json::Value = from_json(r.block("static topic mapping")?)?;
                mapping.insert(i.to_string(), v);
            }
        }
        Ok(RegisterBrokerBody {
            filter_server_list,
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                data_version,
                topic_config_table: table,
                topic_queue_mapping_info_map: if mapping.is_empty() {
                    None
                } else {
                    Some(serde_json::Value::Object(mapping))
                },
                ..Default::default()
            },
        })
    }
}

fn put_block(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as i32).to_be_bytes());
    out.extend_from_slice(data);
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn count(&mut self, what: &str) -> Result<usize, BodyError> {
        let end = self.pos + 4;
        let bytes = self
            .buf
            .get(self.pos..end)
            .ok_or_else(|| BodyError::Compressed(format!("truncated before the {what}")))?;
        let n = i32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        self.pos = end;
        usize::try_from(n).map_err(|_| BodyError::Compressed(format!("negative {what} {n}")))
    }

    fn block(&mut self, what: &str) -> Result<&'a [u8], BodyError> {
        let len = self.count(what)?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| {
                BodyError::Compressed(format!(
                    "{what} of {len} bytes runs past the end of the body"
                ))
            })?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> RegisterBrokerBody {
        let mut table = BTreeMap::new();
        table.insert(
            "TopicTest".to_string(),
            TopicConfig {
                topic_name: "TopicTest".into(),
                read_queue_nums: 4,
                write_queue_nums: 4,
                ..Default::default()
            },
        );
        RegisterBrokerBody {
            filter_server_list: vec![],
            topic_config_serialize_wrapper: TopicConfigSerializeWrapper {
                data_version: DataVersion {
                    counter: 5,
                    state_version: 0,
                    timestamp: 1_700_000_000_000,
                },
                topic_config_table: table,
                ..Default::default()
            },
        }
    }

    #[test]
    fn parses_the_java_json_form() {
        let raw = br#"{"topicConfigSerializeWrapper":{"dataVersion":{"counter":5,"stateVersion":0,"timestamp":1700000000000},
   "topicConfigTable":{"TopicTest":{"order":false,"perm":6,"readQueueNums":4,"topicFilterType":"SINGLE_TAG",
       "topicName":"TopicTest","topicSysFlag":0,"writeQueueNums":4,"attributes":{}}}},
 "filterServerList":[]}"#;
        assert_eq!(RegisterBrokerBody::decode(raw, false).unwrap(), body());
    }

    #[test]
    fn compressed_form_round_trips() {
        let b = body();
        let bytes = b.encode_compressed();
        assert_eq!(RegisterBrokerBody::decode(&bytes, true).unwrap(), b);
    }

    #[test]
    fn compressed_garbage_is_an_error() {
        assert!(RegisterBrokerBody::decode(b"not zlib", true).is_err());
        let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&[0, 0, 0, 100, b'{']).unwrap();
        let bytes = enc.finish().unwrap();
        assert!(RegisterBrokerBody::decode(&bytes, true).is_err());
    }

    #[test]
    fn topic_config_text_form() {
        let tc = TopicConfig::decode_text("T 8 4 6 SINGLE_TAG {\"a\":\"b\"}").unwrap();
        assert_eq!(
            (tc.read_queue_nums, tc.write_queue_nums, tc.perm),
            (8, 4, 6)
        );
        assert_eq!(tc.attributes.get("a").map(String::as_str), Some("b"));
        assert!(TopicConfig::decode_text("T 8 x 6 SINGLE_TAG").is_err());
        assert_eq!(TopicConfig::decode_text(&tc.encode_text()).unwrap(), tc);
    }
}
