//! Allocation-light JSON header paths for the per-message hot path: a writer that renders the
//! header straight into the frame buffer, and a reader for the shapes real clients send.
//!
//! Invariants:
//! - `write_header` produces byte for byte what `serde_json` produces for the same command in
//!   `json.rs`'s fastjson shape (keys in alphabetical order, serde_json's string escapes);
//! - `read_header` either returns exactly the command the serde path in `json.rs` would return,
//!   or `None` — for anything outside the common shape (floats, nested extFields values, escapes
//!   it does not know, duplicate members, invalid input) — so the serde path stays the one
//!   authority on leniency and on error messages.

use bytes::BufMut;

use super::{ExtFields, LanguageCode, RemotingCommand, SerializeType};

/// Appends the command's JSON header to `out`.
pub fn write_header<B: BufMut>(cmd: &RemotingCommand, out: &mut B) {
    out.put_slice(b"{\"code\":");
    write_i32(cmd.code, out);
    if !cmd.ext_fields.is_empty() {
        out.put_slice(b",\"extFields\":{");
        for (i, (k, v)) in cmd.ext_fields.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            write_str(k, out);
            out.put_u8(b':');
            write_str(v, out);
        }
        out.put_u8(b'}');
    } else if let Some(members) = cmd.ext_fields_json.as_deref().filter(|m| !m.is_empty()) {
        out.put_slice(b",\"extFields\":{");
        out.put_slice(members.as_bytes());
        out.put_u8(b'}');
    }
    out.put_slice(b",\"flag\":");
    write_i32(cmd.flag, out);
    out.put_slice(b",\"language\":\"");
    out.put_slice(cmd.language.name().as_bytes());
    out.put_slice(b"\",\"opaque\":");
    write_i32(cmd.opaque, out);
    if let Some(remark) = &cmd.remark {
        out.put_slice(b",\"remark\":");
        write_str(remark, out);
    }
    out.put_slice(b",\"serializeTypeCurrentRPC\":\"JSON\",\"version\":");
    write_i32(cmd.version, out);
    out.put_u8(b'}');
}

fn write_i32<B: BufMut>(v: i32, out: &mut B) {
    write_i64(i64::from(v), out);
}

/// A decimal integer, digits by hand: `write!` through fmt costs more than the rest of a header.
pub(crate) fn write_i64<B: BufMut>(v: i64, out: &mut B) {
    let mut digits = [0u8; 20];
    let mut n = v.unsigned_abs();
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.put_u8(b'-');
    }
    out.put_slice(&digits[at..]);
}

/// A JSON string with serde_json's escapes: `"` and `\` escaped, the five short control escapes,
/// every other byte below 0x20 as `\u00xx` (lower-case hex), everything else verbatim.
pub(crate) fn write_str<B: BufMut>(s: &str, out: &mut B) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_u8(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0x00..=0x1f => b'u',
            _ => continue,
        };
        out.put_slice(&bytes[start..i]);
        out.put_u8(b'\\');
        out.put_u8(short);
        if short == b'u' {
            out.put_slice(b"00");
            out.put_u8(HEX[(b >> 4) as usize]);
            out.put_u8(HEX[(b & 0xf) as usize]);
        }
        start = i + 1;
    }
    out.put_slice(&bytes[start..]);
    out.put_u8(b'"');
}

/// Reads a header in the common shape; `None` hands the input to the serde path.
pub fn read_header(header: &[u8]) -> Option<RemotingCommand> {
    // Validating once up front lets string slices be taken without re-checking.
    let text = std::str::from_utf8(header).ok()?;
    let mut r = Reader {
        s: text.as_bytes(),
        text,
        pos: 0,
    };
    let mut cmd = RemotingCommand {
        language: LanguageCode::Other,
        version: 0,
        serialize_type: SerializeType::Json,
        ..Default::default()
    };
    // Bits of the members seen, to leave duplicates (a serde error) to serde.
    let mut seen = 0u8;
    let mut mark = |bit: u8| -> Option<()> {
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        Some(())
    };
    r.ws();
    r.eat(b'{')?;
    r.ws();
    if r.eat(b'}').is_none() {
        loop {
            let key = r.string()?;
            r.ws();
            r.eat(b':')?;
            r.ws();
            match key.as_ref() {
                "code" => {
                    mark(1)?;
                    cmd.code = r.int()?;
                }
                "flag" => {
                    mark(2)?;
                    cmd.flag = r.int()?;
                }
                "opaque" => {
                    mark(4)?;
                    cmd.opaque = r.int()?;
                }
                "version" => {
                    mark(8)?;
                    cmd.version = r.int()?;
                }
                "language" => {
                    mark(16)?;
                    cmd.language = match r.peek()? {
                        b'"' => LanguageCode::from_name(&r.string()?),
                        b'n' => {
                            r.literal(b"null")?;
                            LanguageCode::Other
                        }
                        _ => return None,
                    };
                }
                "remark" => {
                    mark(32)?;
                    cmd.remark = match r.peek()? {
                        b'"' => Some(r.string()?.into_owned()),
                        b'n' => {
                            r.literal(b"null")?;
                            None
                        }
                        _ => return None,
                    };
                }
                "extFields" => {
                    mark(64)?;
                    if r.peek()? == b'n' {
                        r.literal(b"null")?;
                    } else {
                        r.ext_fields(&mut cmd.ext_fields)?;
                    }
                }
                _ => r.skip_scalar_or_string()?,
            }
            r.ws();
            if r.eat(b',').is_some() {
                r.ws();
                continue;
            }
            r.eat(b'}')?;
            break;
        }
    }
    r.ws();
    (r.pos == r.s.len()).then_some(cmd)
}

struct Reader<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.s.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.pos += 1)
    }

    fn literal(&mut self, lit: &[u8]) -> Option<()> {
        let end = self.pos + lit.len();
        (self.s.get(self.pos..end)? == lit).then(|| self.pos = end)
    }

    /// An integer literal of at most 18 digits without fraction or exponent, as its text.
    fn int_text(&mut self) -> Option<&'a str> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        let digits_at = self.pos;
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
        let digits = self.pos - digits_at;
        let leading_zero = digits > 1 && self.s[digits_at] == b'0';
        // "-0", floats and huge values have serde-specific renderings: leave them to serde.
        let negative_zero = digits_at > start && digits == 1 && self.s[digits_at] == b'0';
        if digits == 0 || digits > 18 || leading_zero || negative_zero {
            return None;
        }
        if let Some(b'.' | b'e' | b'E') = self.peek() {
            return None;
        }
        Some(&self.text[start..self.pos])
    }

    fn int(&mut self) -> Option<i32> {
        self.int_text()?.parse().ok()
    }

    /// A string; borrowed unless it holds escapes.
    fn string(&mut self) -> Option<std::borrow::Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.pos;
        loop {
            match *self.s.get(self.pos)? {
                b'"' => {
                    let s = &self.text[start..self.pos];
                    self.pos += 1;
                    return Some(std::borrow::Cow::Borrowed(s));
                }
                b'\\' => break,
                0x00..=0x1f => return None,
                _ => self.pos += 1,
            }
        }
        let mut out = String::with_capacity(self.pos - start + 16);
        out.push_str(&self.text[start..self.pos]);
        loop {
            let run = self.pos;
            loop {
                match *self.s.get(self.pos)? {
                    b'"' | b'\\' => break,
                    0x00..=0x1f => return None,
                    _ => self.pos += 1,
                }
            }
            out.push_str(&self.text[run..self.pos]);
            if self.s[self.pos] == b'"' {
                self.pos += 1;
                return Some(std::borrow::Cow::Owned(out));
            }
            self.pos += 1;
            let c = match *self.s.get(self.pos)? {
                b'"' => '"',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => {
                    let unit = self.hex4(self.pos + 1)?;
                    self.pos += 4;
                    // Surrogate pairs and lone surrogates: serde's business.
                    char::from_u32(u32::from(unit))?
                }
                _ => return None,
            };
            self.pos += 1;
            out.push(c);
        }
    }

    fn hex4(&self, at: usize) -> Option<u16> {
        let digits = self.s.get(at..at + 4)?;
        let mut v = 0u16;
        for &d in digits {
            v = v * 16 + (d as char).to_digit(16)? as u16;
        }
        Some(v)
    }

    fn ext_fields(&mut self, map: &mut ExtFields) -> Option<()> {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        // Collected first and built in one go: clients send the keys sorted, so the map is
        // bulk-built from a sorted run instead of searched and split once per insert.
        let mut pairs: Vec<(String, Option<String>)> = Vec::with_capacity(16);
        loop {
            let key = self.string()?.into_owned();
            self.ws();
            self.eat(b':')?;
            self.ws();
            let value = match self.peek()? {
                b'"' => Some(self.string()?.into_owned()),
                b't' => self.literal(b"true").map(|_| "true".to_string()),
                b'f' => self.literal(b"false").map(|_| "false".to_string()),
                b'n' => {
                    self.literal(b"null")?;
                    None
                }
                b'-' | b'0'..=b'9' => Some(self.int_text()?.to_string()),
                _ => return None,
            };
            pairs.push((key, value));
            self.ws();
            if self.eat(b',').is_some() {
                self.ws();
                continue;
            }
            self.eat(b'}')?;
            break;
        }
        // serde keeps the last occurrence of a key, and a later null drops an earlier value: a
        // stable sort keeps occurrences in input order, so the last of each run wins.
        if !pairs.is_sorted_by(|a, b| a.0 < b.0) {
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            let mut unique: Vec<(String, Option<String>)> = Vec::with_capacity(pairs.len());
            for pair in pairs {
                if unique.last().is_some_and(|last| last.0 == pair.0) {
                    unique.pop();
                }
                unique.push(pair);
            }
            pairs = unique;
        }
        *map = pairs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        Some(())
    }

    /// Skips the value of an unknown member when it is a string, integer or literal.
    fn skip_scalar_or_string(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.int_text().map(|_| ()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::json::{decode_json_header_serde, encode_json_header_serde};
    use super::*;
    use proptest::prelude::*;

    fn sample() -> RemotingCommand {
        let mut cmd = RemotingCommand {
            code: 310,
            language: LanguageCode::Java,
            version: 401,
            opaque: -7,
            flag: 2,
            remark: Some("a \"quoted\" \\ remark\n\u{1}é".into()),
            ..Default::default()
        };
        cmd.ext_fields
            .insert("i".into(), "UNIQ_KEY\u{1}ABC\u{2}WAIT\u{1}true\u{2}".into());
        cmd.ext_fields.insert("b".into(), "TopicTest".into());
        cmd.ext_fields
            .insert("x\u{7f}".into(), "\u{8}\u{c}\t\r/".into());
        cmd
    }

    #[test]
    fn writes_what_serde_writes() {
        let cmd = sample();
        let mut fast = Vec::new();
        write_header(&cmd, &mut fast);
        assert_eq!(
            String::from_utf8(fast).unwrap(),
            String::from_utf8(encode_json_header_serde(&cmd).unwrap()).unwrap()
        );
        let empty = RemotingCommand::default();
        let mut fast = Vec::new();
        write_header(&empty, &mut fast);
        assert_eq!(fast, encode_json_header_serde(&empty).unwrap());
    }

    #[test]
    fn reads_what_it_writes_and_what_serde_reads() {
        let cmd = sample();
        let mut text = Vec::new();
        write_header(&cmd, &mut text);
        let fast = read_header(&text).expect("common shape");
        assert_eq!(fast, cmd);
        assert_eq!(Some(fast), decode_json_header_serde(&text).ok());
    }

    #[test]
    fn reads_client_variants_like_serde() {
        let inputs: [&[u8]; 9] = [
            br#"{"code":310,"extFields":{"a":"pg","e":0,"k":false,"t":true,"n":null,"m":-12},"flag":0,"language":"NODE_JS","opaque":7,"version":1,"serializeTypeCurrentRPC":"JSON"}"#,
            br#" { "code" : 10 , "language" : null , "remark" : null , "extFields" : null } "#,
            br#"{"extFields":{"a":"1","a":null},"code":1,"unknown":"x","other":false}"#,
            br#"{"extFields":{"b":"1","a":"2","c":null,"b":"3","a":null,"c":"4"}}"#,
            br#"{"extFields":{"z":"1","y":"2","x":"3"}}"#,
            br#"{"code":1,"remark":"\u00e9\/\b\u0001"}"#,
            br#"{}"#,
            br#"{"code":1,"language":"COBOL","extFields":{}}"#,
            br#"{"code":2147483647,"flag":-2147483648,"opaque":0}"#,
        ];
        for raw in inputs {
            let fast =
                read_header(raw).unwrap_or_else(|| panic!("{}", String::from_utf8_lossy(raw)));
            assert_eq!(
                Ok(fast),
                decode_json_header_serde(raw).map_err(|e| e.to_string())
            );
        }
    }

    #[test]
    fn leaves_unusual_or_invalid_input_to_serde() {
        let inputs: [&[u8]; 14] = [
            br#"{"code":1.5}"#,
            br#"{"code":1,"code":2}"#,
            br#"{"code":01}"#,
            br#"{"code":-0}"#,
            br#"{"code":1,"extFields":{"x":1.5}}"#,
            br#"{"code":1,"extFields":{"x":[1]}}"#,
            br#"{"code":1,"future":{"x":1}}"#,
            br#"{"code":1,"remark":"\ud83d\ude00"}"#,
            br#"{"code":1,"language":7}"#,
            br#"{"code":1}x"#,
            br#"{"code":1,}"#,
            br#"{"code":"1"}"#,
            b"{\"code\":1,\"remark\":\"a\x01\"}",
            br#"{"code":99999999999}"#,
        ];
        for raw in inputs {
            assert!(
                read_header(raw).is_none(),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
        assert!(read_header(b"{\"remark\":\"\xff\"}").is_none());
    }

    proptest! {
        #[test]
        fn fast_and_serde_paths_agree(
            code in any::<i32>(),
            opaque in any::<i32>(),
            flag in 0i32..4,
            remark in proptest::option::of("\\PC{0,12}|[\\x00-\\x1f\"\\\\]{0,4}"),
            fields in proptest::collection::btree_map("[a-zA-Z]{1,6}|[\\x00-\\x1f\"\\\\é]{1,3}", "\\PC{0,10}|[\\x00-\\x1f\"\\\\/]{0,4}", 0..6),
        ) {
            let cmd = RemotingCommand {
                code, opaque, flag, remark, ext_fields: fields,
                language: LanguageCode::Rust,
                ..Default::default()
            };
            let mut fast = Vec::new();
            write_header(&cmd, &mut fast);
            prop_assert_eq!(&fast, &encode_json_header_serde(&cmd).unwrap());
            let back = read_header(&fast);
            prop_assert_eq!(back.as_ref(), Some(&cmd));
            prop_assert_eq!(back, decode_json_header_serde(&fast).ok());
        }
    }
}
