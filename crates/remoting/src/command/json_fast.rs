//! Allocation-light JSON header paths for the per-message hot path: a writer that renders the
//! header straight into the frame buffer, and a reader for the shapes real clients send.
//!
//! Invariants:
//! - `write_header` produces byte for byte what `serde_json` produces for the same command in
//!   `json.rs`'s fastjson shape (keys in alphabetical order, serde_json's string escapes);
//! - `read_header` either returns exactly the command the serde path in `json.rs` would return,
//!   or `None` — for anything outside the common shape (floats, nested extFields values, escapes
//!   it does not know, duplicate members, invalid input) — so the serde path stays the one
//!   authority on leniency and on error messages;
//! - extFields are validated here but not parsed into a map: the command keeps their members'
//!   text (`RawExtFields`), which typed headers read field by field. Anything `RawExtFields`
//!   holds was accepted by this reader, so re-reading it cannot fail.

use bytes::BufMut;

use std::borrow::Cow;

use super::{ExtFields, LanguageCode, RawExtFields, RemotingCommand, SerializeType};

/// Appends the command's JSON header to `out`.
pub fn write_header<B: BufMut>(cmd: &RemotingCommand, out: &mut B) {
    out.put_slice(b"{\"code\":");
    write_i32(cmd.code, out);
    match (
        &cmd.ext_fields_json,
        cmd.ext_fields_raw.is_none() && cmd.ext_fields.is_empty(),
    ) {
        // Pre-rendered members alone are written as they are.
        (Some(members), true) => {
            if !members.is_empty() {
                out.put_slice(b",\"extFields\":{");
                out.put_slice(members.as_bytes());
                out.put_u8(b'}');
            }
        }
        // A decoded command written again (tests, proxies), or fields in several places: the
        // fields as the map holds them.
        _ => write_map(&cmd.ext_fields_view(), out),
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

/// The `,"extFields":{...}` member for a non-empty map.
fn write_map<B: BufMut>(fields: &ExtFields, out: &mut B) {
    if !fields.is_empty() {
        out.put_slice(b",\"extFields\":{");
        for (i, (k, v)) in fields.iter().enumerate() {
            if i > 0 {
                out.put_u8(b',');
            }
            write_str(k, out);
            out.put_u8(b':');
            write_str(v, out);
        }
        out.put_u8(b'}');
    }
}

fn write_i32<B: BufMut>(v: i32, out: &mut B) {
    write_i64(i64::from(v), out);
}

/// A decimal integer, digits by hand: `write!` through fmt costs more than the rest of a header.
pub(crate) fn write_i64<B: BufMut>(v: i64, out: &mut B) {
    let mut digits = [0u8; 20];
    let at = decimal_digits(v.unsigned_abs(), &mut digits);
    if v < 0 {
        out.put_u8(b'-');
    }
    out.put_slice(&digits[at..]);
}

/// Writes the decimal digits of `n` at the end of `digits`; returns where they start.
fn decimal_digits(mut n: u64, digits: &mut [u8; 20]) -> usize {
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return at;
        }
    }
}

/// A decimal integer appended to text (the plain extFields form).
pub(crate) fn write_decimal(v: i64, out: &mut String) {
    let mut digits = [0u8; 20];
    let at = decimal_digits(v.unsigned_abs(), &mut digits);
    if v < 0 {
        out.push('-');
    }
    out.extend(digits[at..].iter().map(|&d| char::from(d)));
}

/// A JSON string with serde_json's escapes: `"` and `\` escaped, the five short control escapes,
/// every other byte below 0x20 as `\u00xx` (lower-case hex), everything else verbatim.
pub(crate) fn write_str<B: BufMut>(s: &str, out: &mut B) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_u8(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    // Whole words of plain text are passed over eight bytes at a time (ids, topic names and
    // comma-joined id lists are long runs of it); bytes are looked at one by one only in words
    // that hold something to escape.
    let mut i = 0;
    loop {
        i = skip_plain_words(bytes, i);
        let Some(&b) = bytes.get(i) else { break };
        let short = match b {
            b'"' => b'"',
            b'\\' => b'\\',
            b'\n' => b'n',
            b'\r' => b'r',
            b'\t' => b't',
            0x08 => b'b',
            0x0c => b'f',
            0x00..=0x1f => b'u',
            _ => {
                i += 1;
                continue;
            }
        };
        out.put_slice(&bytes[start..i]);
        out.put_u8(b'\\');
        out.put_u8(short);
        if short == b'u' {
            out.put_slice(b"00");
            out.put_u8(HEX[(b >> 4) as usize]);
            out.put_u8(HEX[(b & 0xf) as usize]);
        }
        i += 1;
        start = i;
    }
    out.put_slice(&bytes[start..]);
    out.put_u8(b'"');
}

/// Reads a header in the common shape; `None` hands the input to the serde path.
pub fn read_header(header: &[u8]) -> Option<RemotingCommand> {
    // Validating once up front lets string slices be taken without re-checking.
    let text = std::str::from_utf8(header).ok()?;
    let mut r = Reader::new(text);
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
    let mut fields: Option<(usize, usize, Vec<MemberSpan>)> = None;
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
                        fields = Some(r.ext_fields_span()?);
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
    if r.pos != r.s.len() {
        return None;
    }
    if let Some((start, end, spans)) = fields.filter(|(start, end, _)| end > start) {
        cmd.ext_fields_raw = Some(RawExtFields::from_validated(&text[start..end], spans));
    }
    Some(cmd)
}

/// The first index from `at` that starts a word of eight bytes needing a look (see
/// `needs_look`) or has fewer than eight bytes after it: plain text is passed over eight bytes
/// at a time, and callers look at bytes one by one from there.
fn skip_plain_words(bytes: &[u8], mut at: usize) -> usize {
    while let Some(word) = bytes.get(at..at + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        if needs_look(u64::from_le_bytes(w)) {
            break;
        }
        at += 8;
    }
    at
}

/// True when one of the eight bytes is a quote, a backslash or a control character (below
/// 0x20). Bytes of 0x80 and above (UTF-8) never match.
fn needs_look(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A byte below n (n <= 0x80) borrows into its high bit; `!x` drops bytes that had it set.
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGHS;
    below(word, 0x20)
        | below(word ^ (ONES * u64::from(b'"')), 1)
        | below(word ^ (ONES * u64::from(b'\\')), 1)
        != 0
}

/// One extFields member: its key and its value's text (`None` for JSON null).
pub(super) type Member<'a> = (Cow<'a, str>, Option<Cow<'a, str>>);

/// Where one validated member lies in its members text (byte offsets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MemberSpan {
    /// The key's text inside its quotes.
    key: (u32, u32),
    key_escaped: bool,
    /// The value as written: a string with its quotes, a scalar literal, `null`.
    value: (u32, u32),
    kind: ValueKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ValueKind {
    /// A string without escapes.
    Plain,
    /// A string with escapes.
    Escaped,
    /// An integer, `true` or `false`: its text is the value.
    Scalar,
    Null,
}

impl MemberSpan {
    /// The member of `text` this span describes; `None` if `text` is not the text it was
    /// recorded in (never for a `RawExtFields`).
    pub(super) fn member<'a>(&self, text: &'a str) -> Option<Member<'a>> {
        let at = |(a, b): (u32, u32)| text.get(a as usize..b as usize);
        let key = if self.key_escaped {
            let mut r = Reader::new(text);
            r.pos = (self.key.0 as usize).checked_sub(1)?;
            r.string()?
        } else {
            Cow::Borrowed(at(self.key)?)
        };
        let (v0, v1) = self.value;
        let value = match self.kind {
            ValueKind::Plain => Some(Cow::Borrowed(at((v0 + 1, v1.checked_sub(1)?))?)),
            ValueKind::Escaped => {
                let mut r = Reader::new(text);
                r.pos = v0 as usize;
                Some(r.string()?)
            }
            ValueKind::Scalar => Some(Cow::Borrowed(at((v0, v1))?)),
            ValueKind::Null => None,
        };
        Some((key, value))
    }
}

/// The members of an extFields object's inside, in wire order. `text` must be something
/// `read_header` accepted as extFields members; anything else ends the iteration early.
pub(super) fn members(text: &str) -> impl Iterator<Item = Member<'_>> {
    let mut r = Reader::new(text);
    let mut first = true;
    std::iter::from_fn(move || {
        r.ws();
        if !first {
            r.eat(b',')?;
            r.ws();
        }
        first = false;
        if r.pos == r.s.len() {
            return None;
        }
        r.member()
    })
}

struct Reader<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Self {
        Reader {
            s: text.as_bytes(),
            text,
            pos: 0,
        }
    }

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
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.pos;
        self.plain_run()?;
        if self.s[self.pos] == b'"' {
            let s = &self.text[start..self.pos];
            self.pos += 1;
            return Some(Cow::Borrowed(s));
        }
        let mut out = String::with_capacity(self.pos - start + 16);
        out.push_str(&self.text[start..self.pos]);
        loop {
            // At a backslash.
            out.push(self.escape()?);
            let run = self.pos;
            self.plain_run()?;
            out.push_str(&self.text[run..self.pos]);
            if self.s[self.pos] == b'"' {
                self.pos += 1;
                return Some(Cow::Owned(out));
            }
        }
    }

    /// `string` that only checks the text (the same checks), without building it.
    fn skip_string(&mut self) -> Option<()> {
        self.string_span().map(|_| ())
    }

    /// Checks a string like `string` and returns where its text lies (inside the quotes) and
    /// whether it holds escapes, without building it.
    fn string_span(&mut self) -> Option<(usize, usize, bool)> {
        self.eat(b'"')?;
        let start = self.pos;
        let mut escaped = false;
        loop {
            self.plain_run()?;
            if self.s[self.pos] == b'"' {
                self.pos += 1;
                return Some((start, self.pos - 1, escaped));
            }
            self.escape()?;
            escaped = true;
        }
    }

    /// Advances to the next `"` or `\` of a string; control characters are left to serde.
    fn plain_run(&mut self) -> Option<()> {
        // Values such as properties and ids are long runs of plain text.
        self.pos = skip_plain_words(self.s, self.pos);
        loop {
            match *self.s.get(self.pos)? {
                b'"' | b'\\' => return Some(()),
                0x00..=0x1f => return None,
                _ => self.pos += 1,
            }
        }
    }

    /// Reads the escape at a backslash.
    fn escape(&mut self) -> Option<char> {
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
        Some(c)
    }

    fn hex4(&self, at: usize) -> Option<u16> {
        let digits = self.s.get(at..at + 4)?;
        let mut v = 0u16;
        for &d in digits {
            v = v * 16 + (d as char).to_digit(16)? as u16;
        }
        Some(v)
    }

    /// One `"key":value` member; a value of any scalar type becomes its text.
    fn member(&mut self) -> Option<Member<'a>> {
        let key = self.string()?;
        self.ws();
        self.eat(b':')?;
        self.ws();
        let value = match self.peek()? {
            b'"' => Some(self.string()?),
            b't' => self.literal(b"true").map(|_| Cow::Borrowed("true")),
            b'f' => self.literal(b"false").map(|_| Cow::Borrowed("false")),
            b'n' => {
                self.literal(b"null")?;
                None
            }
            b'-' | b'0'..=b'9' => Some(Cow::Borrowed(self.int_text()?)),
            _ => return None,
        };
        Some((key, value))
    }

    /// Checks an extFields object; returns where its members' text starts and ends (inside the
    /// braces) and where each member lies in it (offsets from the start), allocating nothing
    /// but the span list, so typed headers later read the members without scanning them again.
    fn ext_fields_span(&mut self) -> Option<(usize, usize, Vec<MemberSpan>)> {
        self.eat(b'{')?;
        self.ws();
        let start = self.pos;
        if self.eat(b'}').is_some() {
            return Some((start, start, Vec::new()));
        }
        let mut spans = Vec::with_capacity(16);
        let rel = |at: usize| u32::try_from(at - start).ok();
        loop {
            let (k0, k1, key_escaped) = self.string_span()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            let v0 = self.pos;
            let kind = match self.peek()? {
                b'"' => {
                    let (_, _, escaped) = self.string_span()?;
                    if escaped {
                        ValueKind::Escaped
                    } else {
                        ValueKind::Plain
                    }
                }
                b't' => self.literal(b"true").map(|_| ValueKind::Scalar)?,
                b'f' => self.literal(b"false").map(|_| ValueKind::Scalar)?,
                b'n' => self.literal(b"null").map(|_| ValueKind::Null)?,
                b'-' | b'0'..=b'9' => self.int_text().map(|_| ValueKind::Scalar)?,
                _ => return None,
            };
            // Strings are kept with their quotes: an escaped one is read again from its quote.
            spans.push(MemberSpan {
                key: (rel(k0)?, rel(k1)?),
                key_escaped,
                value: (rel(v0)?, rel(self.pos)?),
                kind,
            });
            let end = self.pos;
            self.ws();
            if self.eat(b',').is_some() {
                self.ws();
                continue;
            }
            self.eat(b'}')?;
            return Some((start, end, spans));
        }
    }

    /// Skips the value of an unknown member when it is a string, integer or literal.
    fn skip_scalar_or_string(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => self.skip_string(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.int_text().map(|_| ()),
            _ => None,
        }
    }
}

/// The map the members stand for, as serde builds it: the last occurrence of a key wins and a
/// later `null` removes an earlier value.
pub(super) fn members_to_map<'a>(members: impl Iterator<Item = Member<'a>>) -> ExtFields {
    let mut pairs: Vec<(String, Option<String>)> = members
        .map(|(k, v)| (k.into_owned(), v.map(Cow::into_owned)))
        .collect();
    // Clients send the keys sorted, so the map is usually bulk-built from a sorted run; otherwise
    // a stable sort keeps occurrences in input order, so the last of each run wins.
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
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
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

    #[test]
    fn plain_words_are_skipped_whole_and_only_when_plain() {
        assert_eq!(skip_plain_words(b"abcdefghij", 0), 8);
        assert_eq!(skip_plain_words(b"abcdefgh\"ijklmnop", 0), 8);
        assert_eq!(skip_plain_words(b"abcdefg\\", 0), 0);
        assert_eq!(skip_plain_words(b"a\x01bcdefghijklmnopq", 2), 18);
        assert_eq!(skip_plain_words(b"abc", 0), 0);
        assert_eq!(skip_plain_words(b"abcdefgh", 8), 8);
    }

    #[test]
    fn needs_look_finds_every_special_byte() {
        for special in (0u8..0x20).chain([b'"', b'\\']) {
            for at in 0..8 {
                let mut bytes = *b"abcdefgh";
                bytes[at] = special;
                assert!(
                    needs_look(u64::from_le_bytes(bytes)),
                    "{special:#x} at {at}"
                );
            }
        }
        for plain in (0x20u8..=0xff).filter(|b| *b != b'"' && *b != b'\\') {
            assert!(!needs_look(u64::from_le_bytes([plain; 8])), "{plain:#x}");
        }
        assert!(!needs_look(u64::from_le_bytes(*b"\xc3\xa9 !#[]~")));
    }

    proptest! {
        #[test]
        fn strings_are_written_as_serde_writes_them(s in "([a-zA-Z0-9,é]{0,12}[\\x00-\\x1f\"\\\\]?){0,8}") {
            let mut fast = Vec::new();
            write_str(&s, &mut fast);
            prop_assert_eq!(String::from_utf8(fast).unwrap(), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn raw_fields_mean_what_serde_reads(
            members in proptest::collection::vec(
                (
                    "[a-c]|[\\x01\"é]{1,2}",
                    prop_oneof![
                        "\\PC{0,6}|[\\x00-\\x1f\"\\\\/]{0,3}".prop_map(|v| {
                            let mut out = Vec::new();
                            write_str(&v, &mut out);
                            String::from_utf8(out).unwrap()
                        }),
                        any::<i64>().prop_filter("18 digits at most", |v| v.unsigned_abs() < 10u64.pow(18)).prop_map(|v| v.to_string()),
                        Just("true".to_string()),
                        Just("false".to_string()),
                        Just("null".to_string()),
                    ],
                ),
                0..8,
            ),
        ) {
            let text = members
                .iter()
                .map(|(k, v)| {
                    let mut key = Vec::new();
                    write_str(k, &mut key);
                    format!("{}:{v}", String::from_utf8(key).unwrap())
                })
                .collect::<Vec<_>>()
                .join(",");
            let header = format!("{{\"code\":1,\"extFields\":{{{text}}}}}");
            let fast = read_header(header.as_bytes()).expect("common shape");
            prop_assert!(fast.ext_fields.is_empty());
            prop_assert_eq!(fast.ext_fields_raw.is_some(), !members.is_empty());
            let serde = decode_json_header_serde(header.as_bytes()).unwrap();
            prop_assert_eq!(fast.ext_fields_view().into_owned(), serde.ext_fields.clone());
            for (k, _) in &members {
                prop_assert_eq!(fast.ext_field(k).map(|v| v.into_owned()), serde.ext_fields.get(k).cloned());
            }
        }
    }
}
