//! The ROCKETMQ binary header (serialize type 1, fact sheet §1.3).
//!
//! Layout (big-endian): code i16, language u8, version i16, opaque i32, flag i32,
//! remark (i32 length + UTF-8, 0 = none), extFields (i32 total length, then per
//! entry i16 key length + key, i32 value length + value). Every length is checked
//! against the bytes actually present before anything is allocated. Empty values
//! are kept as empty strings (lossless); an empty remark decodes as `None`.
//!
//! extFields decode to the plain form of `RawExtFields` (keys and values copied end to end into
//! one string, no map), and a command whose fields are in that form, as typed headers render
//! them for this header, is written from it as it is: the per-message paths of a client using
//! this header build no maps on either side. Otherwise the writer emits the map's entries, in
//! the map's (ascending) order.

use bytes::BufMut;

use super::{ExtFields, LanguageCode, PlainFields, RemotingCommand, SerializeType};
use crate::frame::FrameError;

/// Serializes the command's header in the binary layout. Fails for codes or
/// versions outside i16 (use JSON for those, e.g. POP_MESSAGE 200050).
pub fn encode_binary_header(cmd: &RemotingCommand) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::new();
    write_binary_header(cmd, &mut out)?;
    Ok(out)
}

/// Appends the command's binary header to `out`; on error nothing is written.
pub fn write_binary_header<B: BufMut>(
    cmd: &RemotingCommand,
    out: &mut B,
) -> Result<(), FrameError> {
    let code = i16::try_from(cmd.code).map_err(|_| {
        FrameError::Unencodable(format!(
            "code {} does not fit the ROCKETMQ binary header (i16); send it with a JSON header",
            cmd.code
        ))
    })?;
    let version = i16::try_from(cmd.version).map_err(|_| {
        FrameError::Unencodable(format!(
            "version {} does not fit the ROCKETMQ binary header (i16); send it with a JSON header",
            cmd.version
        ))
    })?;
    let remark = cmd.remark.as_deref().unwrap_or("");
    let head = Head {
        code,
        language: cmd.language.code(),
        version,
        opaque: cmd.opaque,
        flag: cmd.flag,
        remark,
    };
    // Plain fields alone are written as they are; anything else through the map.
    let plain = match &cmd.ext_fields_raw {
        Some(raw) if cmd.ext_fields.is_empty() && cmd.ext_fields_json.is_none() => {
            raw.plain_entries()
        }
        _ => None,
    };
    match plain {
        Some(entries) => head.write(entries, out),
        None => {
            let map = cmd.ext_fields_view();
            head.write(map.iter().map(|(k, v)| (k.as_str(), v.as_str())), out)
        }
    }
}

/// The fields before the extFields, checked.
struct Head<'a> {
    code: i16,
    language: u8,
    version: i16,
    opaque: i32,
    flag: i32,
    remark: &'a str,
}

impl Head<'_> {
    /// Writes the header with these extFields entries, or nothing when one does not fit.
    fn write<'e, B: BufMut>(
        &self,
        entries: impl Iterator<Item = (&'e str, &'e str)> + Clone,
        out: &mut B,
    ) -> Result<(), FrameError> {
        let remark_len = len_i32(self.remark.len())?;
        let mut ext_len = 0usize;
        for (key, value) in entries.clone() {
            if i16::try_from(key.len()).is_err() {
                return Err(FrameError::Unencodable(format!(
                    "extField key of {} bytes is longer than the binary header allows (32767)",
                    key.len()
                )));
            }
            ext_len += 6 + key.len() + value.len();
        }
        // Every value is shorter than the whole, so each of their lengths fits too.
        let ext_len = len_i32(ext_len)?;
        out.put_i16(self.code);
        out.put_u8(self.language);
        out.put_i16(self.version);
        out.put_i32(self.opaque);
        out.put_i32(self.flag);
        out.put_i32(remark_len);
        out.put_slice(self.remark.as_bytes());
        out.put_i32(ext_len);
        for (key, value) in entries {
            out.put_i16(key.len() as i16);
            out.put_slice(key.as_bytes());
            out.put_i32(value.len() as i32);
            out.put_slice(value.as_bytes());
        }
        Ok(())
    }
}

fn len_i32(len: usize) -> Result<i32, FrameError> {
    i32::try_from(len)
        .map_err(|_| FrameError::Unencodable(format!("a header string of {len} bytes is too long")))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FrameError> {
        let end = self.pos.checked_add(n).filter(|&end| end <= self.buf.len());
        let Some(end) = end else {
            return Err(FrameError::InvalidBinaryHeader(format!(
                "{what} needs {n} bytes but only {} remain",
                self.buf.len() - self.pos
            )));
        };
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], FrameError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn i16(&mut self, what: &str) -> Result<i16, FrameError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &str) -> Result<i32, FrameError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    fn len(&mut self, raw: i64, what: &str) -> Result<usize, FrameError> {
        usize::try_from(raw)
            .map_err(|_| FrameError::InvalidBinaryHeader(format!("{what} has length {raw}")))
    }

    fn str(&mut self, n: usize, what: &str) -> Result<&'a str, FrameError> {
        let bytes = self.take(n, what)?;
        std::str::from_utf8(bytes)
            .map_err(|_| FrameError::InvalidBinaryHeader(format!("{what} is not valid UTF-8")))
    }
}

/// Parses a binary header; the returned command has no body.
pub fn decode_binary_header(header: &[u8]) -> Result<RemotingCommand, FrameError> {
    let mut r = Reader {
        buf: header,
        pos: 0,
    };
    let code = r.i16("code")? as i32;
    let language = LanguageCode::from_code(r.array::<1>("language")?[0]);
    let version = r.i16("version")? as i32;
    let opaque = r.i32("opaque")?;
    let flag = r.i32("flag")?;
    let raw = r.i32("remark length")? as i64;
    let remark_len = r.len(raw, "remark")?;
    let remark = if remark_len == 0 {
        None
    } else {
        Some(r.str(remark_len, "remark")?.to_string())
    };
    let raw = r.i32("extFields length")? as i64;
    let ext_len = r.len(raw, "extFields")?;
    let ext_bytes = r.take(ext_len, "extFields")?;
    // Keys and values are copied end to end and checked as UTF-8 in one go; every entry has six
    // bytes of lengths, a bound on the entries rather than a guess at them.
    let mut text = Vec::with_capacity(ext_len);
    let mut spans = Vec::with_capacity((ext_len / 6).min(32));
    let mut e = Reader {
        buf: ext_bytes,
        pos: 0,
    };
    while e.pos < ext_bytes.len() {
        let raw = e.i16("extField key length")? as i64;
        let key_len = e.len(raw, "extField key")?;
        text.extend_from_slice(e.take(key_len, "extField key")?);
        let key_end = text.len();
        let raw = e.i32("extField value length")? as i64;
        let value_len = e.len(raw, "extField value")?;
        text.extend_from_slice(e.take(value_len, "extField value")?);
        spans.push((key_end, text.len()));
    }
    if r.pos != header.len() {
        return Err(FrameError::InvalidBinaryHeader(format!(
            "{} unexpected bytes after the extFields",
            header.len() - r.pos
        )));
    }
    let fields = PlainFields::from_concatenated(text, spans).ok_or_else(|| {
        FrameError::InvalidBinaryHeader("an extField key or value is not valid UTF-8".into())
    })?;
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields: ExtFields::new(),
        ext_fields_json: None,
        ext_fields_raw: (!fields.is_empty()).then_some(fields),
        body: None,
        serialize_type: SerializeType::RocketMq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_bytes_round_trip() {
        let mut cmd = RemotingCommand {
            code: 34,
            language: LanguageCode::Java,
            version: 401,
            opaque: 9,
            flag: 0,
            remark: Some("hi".into()),
            serialize_type: SerializeType::RocketMq,
            ..Default::default()
        };
        cmd.ext_fields.insert("k".into(), "v".into());
        let bytes = encode_binary_header(&cmd).unwrap();
        let expected: Vec<u8> = [
            &[0, 34, 0, 1, 145, 0, 0, 0, 9, 0, 0, 0, 0][..],
            &[0, 0, 0, 2, b'h', b'i'],
            &[0, 0, 0, 8, 0, 1, b'k', 0, 0, 0, 1, b'v'],
        ]
        .concat();
        assert_eq!(bytes, expected);
        assert_eq!(decode_binary_header(&bytes).unwrap(), cmd);
    }

    #[test]
    fn rejects_codes_outside_i16() {
        let cmd = RemotingCommand {
            code: 200050,
            serialize_type: SerializeType::RocketMq,
            ..Default::default()
        };
        assert!(encode_binary_header(&cmd)
            .unwrap_err()
            .to_string()
            .contains("JSON"));
    }

    #[test]
    fn rejects_lengths_beyond_the_header() {
        let mut bytes = vec![0, 34, 0, 1, 145, 0, 0, 0, 9, 0, 0, 0, 0];
        bytes.extend_from_slice(&i32::MAX.to_be_bytes());
        let err = decode_binary_header(&bytes).unwrap_err();
        assert!(err.to_string().contains("remark"), "{err}");
        let mut bytes = vec![0, 34, 0, 1, 145, 0, 0, 0, 9, 0, 0, 0, 0];
        bytes.extend_from_slice(&(-1i32).to_be_bytes());
        assert!(decode_binary_header(&bytes).is_err());
        assert!(decode_binary_header(&[0, 1]).is_err());
    }

    #[test]
    fn a_character_split_between_key_and_value_is_invalid() {
        // "k\u{e9}" cut after the lead byte: the two strings together are UTF-8, neither alone.
        let ext = [&[0, 2, b'k', 0xC3][..], &[0, 0, 0, 1, 0xA9]].concat();
        let mut bytes = vec![0, 34, 0, 1, 145, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&(ext.len() as i32).to_be_bytes());
        bytes.extend_from_slice(&ext);
        let err = decode_binary_header(&bytes).unwrap_err();
        assert!(err.to_string().contains("UTF-8"), "{err}");
        // The same character whole in the value is fine.
        let ext = [&[0, 1, b'k'][..], &[0, 0, 0, 2, 0xC3, 0xA9]].concat();
        let mut bytes = vec![0, 34, 0, 1, 145, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&(ext.len() as i32).to_be_bytes());
        bytes.extend_from_slice(&ext);
        let cmd = decode_binary_header(&bytes).unwrap();
        assert_eq!(cmd.ext_field("k").as_deref(), Some("\u{e9}"));
    }

    /// The binary bytes of one header with the given entries, written by hand.
    fn header_with(entries: &[(String, String)]) -> Vec<u8> {
        let mut ext = Vec::new();
        for (k, v) in entries {
            ext.extend_from_slice(&(k.len() as i16).to_be_bytes());
            ext.extend_from_slice(k.as_bytes());
            ext.extend_from_slice(&(v.len() as i32).to_be_bytes());
            ext.extend_from_slice(v.as_bytes());
        }
        let mut bytes = vec![0, 34, 0, 1, 145, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0];
        bytes.extend_from_slice(&(ext.len() as i32).to_be_bytes());
        bytes.extend_from_slice(&ext);
        bytes
    }

    proptest::proptest! {
        /// Decoded to the plain form, entries read as the map of their last occurrences would
        /// (typed headers, single fields, the map itself), and are written back unchanged.
        #[test]
        fn plain_fields_read_like_the_map_and_write_back_unchanged(
            entries in proptest::collection::vec(
                (
                    proptest::sample::select(vec!["topic", "queueId", "a", "", "é"]),
                    "[a-z0-9\\x01\\x02é\"]{0,6}",
                ),
                0..12,
            ),
        ) {
            use crate::header::{CommandHeader, GetMaxOffsetRequestHeader};
            let entries: Vec<(String, String)> =
                entries.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let bytes = header_with(&entries);
            let cmd = decode_binary_header(&bytes).unwrap();
            let map: ExtFields = entries.iter().cloned().collect();
            proptest::prop_assert!(cmd.ext_fields.is_empty());
            proptest::prop_assert_eq!(cmd.ext_fields_raw.is_some(), !entries.is_empty());
            proptest::prop_assert_eq!(cmd.ext_fields_view().into_owned(), map.clone());
            for key in ["topic", "queueId", "a", "", "é", "none"] {
                proptest::prop_assert_eq!(
                    cmd.ext_field(key).map(|v| v.into_owned()),
                    map.get(key).cloned()
                );
            }
            proptest::prop_assert_eq!(
                cmd.decode_header::<GetMaxOffsetRequestHeader>(),
                GetMaxOffsetRequestHeader::from_ext_fields(&map)
            );
            proptest::prop_assert_eq!(encode_binary_header(&cmd).unwrap(), bytes);
            proptest::prop_assert_eq!(cmd.clone().take_header::<GetMaxOffsetRequestHeader>(),
                GetMaxOffsetRequestHeader::from_ext_fields(&map));
        }

        /// A typed header rendered plain writes the bytes its map writes.
        #[test]
        fn plain_rendering_writes_what_the_map_writes(
            topic in "[a-z\\x01é]{0,6}", queue_id in proptest::prelude::any::<i32>(),
            offset in proptest::prelude::any::<i64>(), zero in proptest::prelude::any::<Option<bool>>(),
        ) {
            use crate::header::{
                CommandHeader, QueryConsumerOffsetRequestHeader, UpdateConsumerOffsetRequestHeader,
            };
            fn check<H: CommandHeader + PartialEq + std::fmt::Debug + Clone>(h: H) {
                let mut by_map = RemotingCommand::request_with_header(14, &h);
                by_map.serialize_type = SerializeType::RocketMq;
                let mut by_plain = RemotingCommand::request_with_plain_fields(14, h.plain_fields());
                by_plain.opaque = by_map.opaque;
                crate::command::assert_rendered_like_the_map(&by_plain, &by_map, &h);
            }
            check(QueryConsumerOffsetRequestHeader {
                consumer_group: topic.clone(),
                topic: topic.clone(),
                queue_id,
                set_zero_if_not_found: zero,
            });
            check(UpdateConsumerOffsetRequestHeader {
                consumer_group: "g".into(),
                topic,
                queue_id,
                commit_offset: offset,
            });
        }
    }

    #[test]
    fn a_key_longer_than_i16_is_refused_before_anything_is_written() {
        let mut cmd = RemotingCommand {
            serialize_type: SerializeType::RocketMq,
            ..Default::default()
        };
        cmd.ext_fields.insert("k".repeat(40_000), "v".into());
        let mut out = Vec::new();
        let err = write_binary_header(&cmd, &mut out).unwrap_err();
        assert!(err.to_string().contains("32767"), "{err}");
        assert!(out.is_empty());
    }
}
