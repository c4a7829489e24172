//! The ROCKETMQ binary header (serialize type 1, fact sheet §1.3).
//!
//! Layout (big-endian): code i16, language u8, version i16, opaque i32, flag i32,
//! remark (i32 length + UTF-8, 0 = none), extFields (i32 total length, then per
//! entry i16 key length + key, i32 value length + value). Every length is checked
//! against the bytes actually present before anything is allocated. Empty values
//! are kept as empty strings (lossless); an empty remark decodes as `None`.

use super::{ExtFields, LanguageCode, RemotingCommand, SerializeType};
use crate::frame::FrameError;

/// Serializes the command's header in the binary layout. Fails for codes or
/// versions outside i16 (use JSON for those, e.g. POP_MESSAGE 200050).
pub fn encode_binary_header(cmd: &RemotingCommand) -> Result<Vec<u8>, FrameError> {
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
    let mut ext = Vec::new();
    for (key, value) in cmd.ext_fields_view().iter() {
        let key_len = i16::try_from(key.len()).map_err(|_| {
            FrameError::Unencodable(format!(
                "extField key of {} bytes is longer than the binary header allows (32767)",
                key.len()
            ))
        })?;
        ext.extend_from_slice(&key_len.to_be_bytes());
        ext.extend_from_slice(key.as_bytes());
        ext.extend_from_slice(&len_i32(value.len())?.to_be_bytes());
        ext.extend_from_slice(value.as_bytes());
    }
    let remark = cmd.remark.as_deref().unwrap_or("");
    let mut out = Vec::with_capacity(17 + remark.len() + 4 + ext.len());
    out.extend_from_slice(&code.to_be_bytes());
    out.push(cmd.language.code());
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&cmd.opaque.to_be_bytes());
    out.extend_from_slice(&cmd.flag.to_be_bytes());
    out.extend_from_slice(&len_i32(remark.len())?.to_be_bytes());
    out.extend_from_slice(remark.as_bytes());
    out.extend_from_slice(&len_i32(ext.len())?.to_be_bytes());
    out.extend_from_slice(&ext);
    Ok(out)
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
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(FrameError::InvalidBinaryHeader(format!(
                "{what} needs {n} bytes at offset {} but the header has {}",
                self.pos,
                self.buf.len()
            ))),
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], FrameError> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn i16(&mut self, what: &str) -> Result<i16, FrameError> {
        Ok(i16::from_be_bytes(self.array(what)?))
    }

    fn i32(&mut self, what: &str) -> Result<i32, FrameError> {
        Ok(i32::from_be_bytes(self.array(what)?))
    }

    fn len(&mut self, raw: i64, what: &str) -> Result<usize, FrameError> {
        usize::try_from(raw)
            .map_err(|_| FrameError::InvalidBinaryHeader(format!("negative {what} length {raw}")))
    }

    fn string(&mut self, n: usize, what: &str) -> Result<String, FrameError> {
        let bytes = self.take(n, what)?;
        String::from_utf8(bytes.to_vec())
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
        Some(r.string(remark_len, "remark")?)
    };
    let raw = r.i32("extFields length")? as i64;
    let ext_len = r.len(raw, "extFields")?;
    let ext_bytes = r.take(ext_len, "extFields")?;
    let mut ext_fields = ExtFields::new();
    let mut e = Reader {
        buf: ext_bytes,
        pos: 0,
    };
    while e.pos < ext_bytes.len() {
        let raw = e.i16("extField key length")? as i64;
        let key_len = e.len(raw, "extField key")?;
        let key = e.string(key_len, "extField key")?;
        let raw = e.i32("extField value length")? as i64;
        let value_len = e.len(raw, "extField value")?;
        let value = e.string(value_len, "extField value")?;
        ext_fields.insert(key, value);
    }
    if r.pos != header.len() {
        return Err(FrameError::InvalidBinaryHeader(format!(
            "{} unexpected bytes after the extFields",
            header.len() - r.pos
        )));
    }
    Ok(RemotingCommand {
        code,
        language,
        version,
        opaque,
        flag,
        remark,
        ext_fields,
        ext_fields_json: None,
        ext_fields_raw: None,
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
}
