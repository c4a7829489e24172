//! SEND_MESSAGE (10, long keys), SEND_MESSAGE_V2 (310) / SEND_BATCH_MESSAGE (320)
//! (short keys a..n) request headers and the send response header (fact sheet §3.1).
//!
//! The V2 header is the same data with one-letter keys; `From` converts both ways
//! and `SendMessageRequestHeader::from_command` picks the key set by code.

use super::{command_header, HeaderError, MemberSink};
use crate::code::request;
use crate::command::{PlainFields, RawExtFields, RemotingCommand};

command_header! {
    /// SEND_MESSAGE request header (long key names).
    pub struct SendMessageRequestHeader {
        producer_group: String => "producerGroup",
        topic: String => "topic",
        default_topic: String => "defaultTopic",
        default_topic_queue_nums: i32 => "defaultTopicQueueNums",
        /// < 0 lets the broker choose a queue.
        queue_id: i32 => "queueId",
        sys_flag: i32 => "sysFlag",
        born_timestamp: i64 => "bornTimestamp",
        flag: i32 => "flag",
        properties: Option<String> => "properties",
        reconsume_times: Option<i32> => "reconsumeTimes",
        unit_mode: Option<bool> => "unitMode",
        max_reconsume_times: Option<i32> => "maxReconsumeTimes",
        batch: Option<bool> => "batch",
        broker_name: Option<String> => "brokerName",
    }
}

command_header! {
    /// SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE request header (short key names a..n).
    pub struct SendMessageRequestHeaderV2 {
        a: String => "a",
        b: String => "b",
        c: String => "c",
        d: i32 => "d",
        e: i32 => "e",
        f: i32 => "f",
        g: i64 => "g",
        h: i32 => "h",
        i: Option<String> => "i",
        j: Option<i32> => "j",
        k: Option<bool> => "k",
        l: Option<i32> => "l",
        m: Option<bool> => "m",
        n: Option<String> => "n",
    }
}

impl From<SendMessageRequestHeaderV2> for SendMessageRequestHeader {
    fn from(v: SendMessageRequestHeaderV2) -> Self {
        SendMessageRequestHeader {
            producer_group: v.a,
            topic: v.b,
            default_topic: v.c,
            default_topic_queue_nums: v.d,
            queue_id: v.e,
            sys_flag: v.f,
            born_timestamp: v.g,
            flag: v.h,
            properties: v.i,
            reconsume_times: v.j,
            unit_mode: v.k,
            max_reconsume_times: v.l,
            batch: v.m,
            broker_name: v.n,
        }
    }
}

impl From<SendMessageRequestHeader> for SendMessageRequestHeaderV2 {
    fn from(h: SendMessageRequestHeader) -> Self {
        SendMessageRequestHeaderV2 {
            a: h.producer_group,
            b: h.topic,
            c: h.default_topic,
            d: h.default_topic_queue_nums,
            e: h.queue_id,
            f: h.sys_flag,
            g: h.born_timestamp,
            h: h.flag,
            i: h.properties,
            j: h.reconsume_times,
            k: h.unit_mode,
            l: h.max_reconsume_times,
            m: h.batch,
            n: h.broker_name,
        }
    }
}

impl SendMessageRequestHeaderV2 {
    /// The header as extFields JSON members (`RemotingCommand::ext_fields_json`): the bytes the
    /// JSON writer would produce from `ext_fields()`, without building the map.
    pub fn to_json_members(&self) -> String {
        SendHeaderFields {
            producer_group: &self.a,
            topic: &self.b,
            default_topic: &self.c,
            default_topic_queue_nums: self.d,
            queue_id: self.e,
            sys_flag: self.f,
            born_timestamp: self.g,
            flag: self.h,
            properties: self.i.as_deref(),
            reconsume_times: self.j,
            unit_mode: self.k,
            max_reconsume_times: self.l,
            batch: self.m,
            broker_name: self.n.as_deref(),
        }
        .to_v2_json_members()
    }
}

/// A send request header's fields borrowed from the sender's own data, for rendering the
/// SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE header without copying the topic, group, properties
/// and broker name into a header struct first (a producer does this per message).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct SendHeaderFields<'a> {
    pub producer_group: &'a str,
    pub topic: &'a str,
    pub default_topic: &'a str,
    pub default_topic_queue_nums: i32,
    pub queue_id: i32,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub flag: i32,
    pub properties: Option<&'a str>,
    pub reconsume_times: Option<i32>,
    pub unit_mode: Option<bool>,
    pub max_reconsume_times: Option<i32>,
    pub batch: Option<bool>,
    pub broker_name: Option<&'a str>,
}

impl SendHeaderFields<'_> {
    /// The V2 header (one-letter keys, already in ascending order) as extFields JSON members:
    /// the bytes the JSON writer would produce from the V2 header's map.
    pub fn to_v2_json_members(&self) -> String {
        let mut out: Vec<u8> = Vec::with_capacity(160 + self.text_len());
        self.write_v2(&mut out);
        // Built from &str values and ASCII escapes, so always valid UTF-8.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// The V2 header as plain extFields for a ROCKETMQ binary header: the entries the binary
    /// writer would produce from the V2 header's map.
    pub fn to_v2_plain_fields(&self) -> RawExtFields {
        let mut out = PlainFields::with_capacity(14, 80 + self.text_len());
        self.write_v2(&mut out);
        out.finish()
    }

    /// The bytes of the string fields; properties dominate, the rest is under 150 bytes.
    fn text_len(&self) -> usize {
        self.producer_group.len()
            + self.topic.len()
            + self.default_topic.len()
            + self.properties.map_or(0, str::len)
            + self.broker_name.map_or(0, str::len)
    }

    /// The present fields, keys ascending; the values go through `HeaderMember` as a typed
    /// header's do, the borrowed strings directly.
    fn write_v2(&self, out: &mut impl MemberSink) {
        out.text("a", self.producer_group);
        out.text("b", self.topic);
        out.text("c", self.default_topic);
        out.value("d", &self.default_topic_queue_nums);
        out.value("e", &self.queue_id);
        out.value("f", &self.sys_flag);
        out.value("g", &self.born_timestamp);
        out.value("h", &self.flag);
        if let Some(v) = self.properties {
            out.text("i", v);
        }
        // An absent optional field writes nothing.
        out.value("j", &self.reconsume_times);
        out.value("k", &self.unit_mode);
        out.value("l", &self.max_reconsume_times);
        out.value("m", &self.batch);
        if let Some(v) = self.broker_name {
            out.text("n", v);
        }
    }
}

/// The owned header for the ROCKETMQ header or the long key set, where the fields go to a map.
impl From<SendHeaderFields<'_>> for SendMessageRequestHeader {
    fn from(f: SendHeaderFields<'_>) -> Self {
        SendMessageRequestHeader {
            producer_group: f.producer_group.to_string(),
            topic: f.topic.to_string(),
            default_topic: f.default_topic.to_string(),
            default_topic_queue_nums: f.default_topic_queue_nums,
            queue_id: f.queue_id,
            sys_flag: f.sys_flag,
            born_timestamp: f.born_timestamp,
            flag: f.flag,
            properties: f.properties.map(str::to_string),
            reconsume_times: f.reconsume_times,
            unit_mode: f.unit_mode,
            batch: f.batch,
            max_reconsume_times: f.max_reconsume_times,
            broker_name: f.broker_name.map(str::to_string),
        }
    }
}

impl SendMessageRequestHeader {
    /// Decodes the send header of a SEND_MESSAGE / SEND_MESSAGE_V2 /
    /// SEND_BATCH_MESSAGE / SEND_REPLY_MESSAGE(_V2) request, choosing the key set
    /// by its code. Errors name the long field name for clarity.
    pub fn from_command(cmd: &RemotingCommand) -> Result<Self, HeaderError> {
        if uses_short_keys(cmd.code) {
            cmd.decode_header::<SendMessageRequestHeaderV2>()
                .map(Into::into)
                .map_err(long_name_error)
        } else {
            cmd.decode_header()
        }
    }

    /// `from_command` for a handler that no longer needs the request's extFields: they are
    /// taken out of `cmd` (left empty) and the strings (properties, topic, group) are moved
    /// (or, from a decoded header, read once) into the header instead of copied.
    pub fn take_from_command(cmd: &mut RemotingCommand) -> Result<Self, HeaderError> {
        if uses_short_keys(cmd.code) {
            cmd.take_header::<SendMessageRequestHeaderV2>()
                .map(Into::into)
                .map_err(long_name_error)
        } else {
            cmd.take_header()
        }
    }
}

fn uses_short_keys(code: i32) -> bool {
    matches!(
        code,
        request::SEND_MESSAGE_V2 | request::SEND_BATCH_MESSAGE | request::SEND_REPLY_MESSAGE_V2
    )
}

fn long_name(short: &str) -> &'static str {
    match short {
        "a" => "producerGroup",
        "b" => "topic",
        "c" => "defaultTopic",
        "d" => "defaultTopicQueueNums",
        "e" => "queueId",
        "f" => "sysFlag",
        "g" => "bornTimestamp",
        "h" => "flag",
        "i" => "properties",
        "j" => "reconsumeTimes",
        "k" => "unitMode",
        "l" => "maxReconsumeTimes",
        "m" => "batch",
        "n" => "brokerName",
        _ => "unknown",
    }
}

fn long_name_error(e: HeaderError) -> HeaderError {
    match e {
        HeaderError::Missing(f) => HeaderError::Missing(long_name(f)),
        HeaderError::Invalid {
            field,
            value,
            expected,
        } => HeaderError::Invalid {
            field: long_name(field),
            value,
            expected,
        },
    }
}

command_header! {
    /// Response header of the send requests.
    pub struct SendMessageResponseHeader {
        /// Offset message id (comma-separated list for batches).
        msg_id: String => "msgId",
        queue_id: i32 => "queueId",
        queue_offset: i64 => "queueOffset",
        transaction_id: Option<String> => "transactionId",
        batch_uniq_id: Option<String> => "batchUniqId",
        recall_handle: Option<String> => "recallHandle",
        msg_region: Option<String> => "MSG_REGION",
        trace_on: Option<String> => "TRACE_ON",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::CommandHeader;

    fn long() -> SendMessageRequestHeader {
        SendMessageRequestHeader {
            producer_group: "pg".into(),
            topic: "T".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 1,
            sys_flag: 0,
            born_timestamp: 1_700_000_000_000,
            flag: 0,
            properties: Some("TAGS\u{1}a\u{2}".into()),
            unit_mode: Some(false),
            ..Default::default()
        }
    }

    #[test]
    fn v2_and_long_names_convert_both_ways() {
        let h = long();
        let v2: SendMessageRequestHeaderV2 = h.clone().into();
        let fields = v2.ext_fields();
        assert_eq!(fields.get("b").map(String::as_str), Some("T"));
        assert_eq!(fields.get("g").map(String::as_str), Some("1700000000000"));
        let mut cmd = RemotingCommand::new_request(request::SEND_MESSAGE_V2);
        cmd.ext_fields = fields;
        assert_eq!(SendMessageRequestHeader::from_command(&cmd).unwrap(), h);
        let cmd = RemotingCommand::request_with_header(request::SEND_MESSAGE, &h);
        assert_eq!(cmd.ext_field("producerGroup").as_deref(), Some("pg"));
        assert_eq!(SendMessageRequestHeader::from_command(&cmd).unwrap(), h);
    }

    #[test]
    fn ali_ons_scalar_values_decode_into_the_typed_header() {
        // ali-ons sends numbers and booleans as JSON scalars, not strings.
        let raw = br#"{"code":310,"extFields":{"a":"pg","b":"T","c":"TBW102","d":4,"e":0,"f":0,"g":1700000000000,"h":0,"k":false},"flag":0,"language":"NODE_JS","opaque":1,"version":1}"#;
        let cmd = crate::command::decode_json_header(raw).unwrap();
        let h = SendMessageRequestHeader::from_command(&cmd).unwrap();
        assert_eq!(h.queue_id, 0);
        assert_eq!(h.born_timestamp, 1_700_000_000_000);
        assert_eq!(h.unit_mode, Some(false));
        assert_eq!(h.default_topic_queue_nums, 4);
    }

    #[test]
    fn taking_the_header_matches_from_command() {
        let h = long();
        for cmd in [
            RemotingCommand::request_with_header(request::SEND_MESSAGE, &h),
            RemotingCommand::request_with_header(
                request::SEND_MESSAGE_V2,
                &SendMessageRequestHeaderV2::from(h.clone()),
            ),
        ] {
            let mut taken = cmd.clone();
            assert_eq!(
                SendMessageRequestHeader::take_from_command(&mut taken).unwrap(),
                h
            );
            assert!(taken.ext_fields.is_empty());
        }
        let mut cmd = RemotingCommand::new_request(request::SEND_MESSAGE_V2);
        cmd.ext_fields = SendMessageRequestHeaderV2::from(long()).into_ext_fields();
        cmd.ext_fields.insert("d".into(), "x".into());
        let err = SendMessageRequestHeader::take_from_command(&mut cmd.clone()).unwrap_err();
        assert_eq!(
            err,
            SendMessageRequestHeader::from_command(&cmd).unwrap_err()
        );
        assert!(err.to_string().contains("<defaultTopicQueueNums>"), "{err}");
    }

    #[test]
    fn json_members_encode_exactly_like_the_map() {
        let mut full = long();
        full.properties = Some("TAGS\u{1}a\u{2}KEYS\u{1}\"q\"\\\n\u{7f}é\u{2}".into());
        full.reconsume_times = Some(i32::MIN);
        full.born_timestamp = i64::MIN;
        full.queue_id = -1;
        full.max_reconsume_times = Some(16);
        full.batch = Some(true);
        full.broker_name = Some("broker-a".into());
        let mut bare = long();
        bare.properties = None;
        bare.unit_mode = None;
        for h in [long(), full, bare] {
            let v2 = SendMessageRequestHeaderV2::from(h);
            let mut by_map = RemotingCommand::request_with_header(request::SEND_MESSAGE_V2, &v2);
            let mut by_json = RemotingCommand::request_with_json_fields(
                request::SEND_MESSAGE_V2,
                v2.to_json_members(),
            );
            by_json.opaque = by_map.opaque;
            by_map.language = crate::command::LanguageCode::Java;
            by_json.language = crate::command::LanguageCode::Java;
            let want = crate::command::encode_json_header(&by_map).unwrap();
            assert_eq!(
                String::from_utf8(crate::command::encode_json_header(&by_json).unwrap()).unwrap(),
                String::from_utf8(want.clone()).unwrap()
            );
            // And it reads back as the same header.
            let back = crate::command::decode_json_header(&want).unwrap();
            assert_eq!(
                SendMessageRequestHeader::from_command(&back).unwrap(),
                SendMessageRequestHeader::from(v2)
            );
        }
    }

    #[test]
    fn borrowed_fields_become_the_same_owned_header() {
        let mut h = long();
        h.max_reconsume_times = Some(16);
        h.broker_name = Some("broker-a".into());
        let fields = SendHeaderFields {
            producer_group: &h.producer_group,
            topic: &h.topic,
            default_topic: &h.default_topic,
            default_topic_queue_nums: h.default_topic_queue_nums,
            queue_id: h.queue_id,
            sys_flag: h.sys_flag,
            born_timestamp: h.born_timestamp,
            flag: h.flag,
            properties: h.properties.as_deref(),
            reconsume_times: h.reconsume_times,
            unit_mode: h.unit_mode,
            max_reconsume_times: h.max_reconsume_times,
            batch: h.batch,
            broker_name: h.broker_name.as_deref(),
        };
        assert_eq!(
            fields.to_v2_json_members(),
            SendMessageRequestHeaderV2::from(h.clone()).json_members()
        );
        // The plain rendering writes the binary header the V2 header's map would.
        let v2 = SendMessageRequestHeaderV2::from(h.clone());
        let mut by_plain = RemotingCommand::request_with_plain_fields(
            request::SEND_MESSAGE_V2,
            fields.to_v2_plain_fields(),
        );
        let mut by_map = RemotingCommand::request_with_header(request::SEND_MESSAGE_V2, &v2);
        by_map.serialize_type = crate::command::SerializeType::RocketMq;
        by_plain.opaque = by_map.opaque;
        crate::command::assert_rendered_like_the_map(&by_plain, &by_map, &v2);
        assert_eq!(v2.plain_fields(), fields.to_v2_plain_fields());
        assert_eq!(SendMessageRequestHeader::from(fields), h);
    }

    #[test]
    fn json_members_go_into_the_binary_header_as_fields() {
        let v2 = SendMessageRequestHeaderV2::from(long());
        let mut cmd = RemotingCommand::request_with_json_fields(
            request::SEND_MESSAGE_V2,
            v2.to_json_members(),
        );
        cmd.serialize_type = crate::command::SerializeType::RocketMq;
        let mut by_map = RemotingCommand::request_with_header(request::SEND_MESSAGE_V2, &v2);
        by_map.opaque = cmd.opaque;
        by_map.serialize_type = crate::command::SerializeType::RocketMq;
        assert_eq!(
            cmd.encode_header().unwrap(),
            by_map.encode_header().unwrap()
        );
        assert_eq!(
            SendMessageRequestHeader::from_command(&cmd).unwrap(),
            long()
        );
    }

    #[test]
    fn v2_errors_use_long_names() {
        let mut cmd = RemotingCommand::new_request(request::SEND_BATCH_MESSAGE);
        cmd.ext_fields = SendMessageRequestHeaderV2::from(long()).ext_fields();
        cmd.ext_fields.remove("b");
        let err = SendMessageRequestHeader::from_command(&cmd).unwrap_err();
        assert_eq!(err.to_string(), "the custom field <topic> is null");
    }
}
