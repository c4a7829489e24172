//! A tolerant reader for fastjson's non-standard JSON (fact sheet §3.5, §13).
//!
//! fastjson writes map keys that are not strings without quotes
//! (`{0:"10.0.0.1:10911"}`) and writes objects used as keys as the object itself
//! (`{{"brokerName":"b","queueId":0,"topic":"t"}:{...}}`). `normalize` rewrites
//! such text into standard JSON: bare keys become strings, and object/array keys
//! become a string holding their (normalized) JSON text. Everything else is
//! copied unchanged. Nesting is limited to `MAX_DEPTH` so hostile input cannot
//! exhaust the stack.

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// Why text is not even fastjson-shaped JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at byte {pos}")]
pub struct FastJsonError {
    pub reason: &'static str,
    pub pos: usize,
}

/// Rewrites fastjson text into standard JSON.
pub fn normalize(input: &[u8]) -> Result<Vec<u8>, FastJsonError> {
    let mut p = Parser { s: input, pos: 0 };
    let mut out = Vec::with_capacity(input.len() + 16);
    p.value(&mut out, 0)?;
    p.ws();
    if p.pos != p.s.len() {
        return Err(p.err("trailing characters after the JSON value"));
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, reason: &'static str) -> FastJsonError {
        FastJsonError {
            reason,
            pos: self.pos,
        }
    }

    fn ws(&mut self) {
        while self.pos < self.s.len() && self.s[self.pos].is_ascii_whitespace() {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<(), FastJsonError> {
        if depth > MAX_DEPTH {
            return Err(self.err("nesting too deep"));
        }
        self.ws();
        match self.peek() {
            Some(b'{') => self.object(out, depth),
            Some(b'[') => self.array(out, depth),
            Some(b'"') => self.string(out),
            Some(_) => {
                let token = self.bare()?;
                out.extend_from_slice(token);
                Ok(())
            }
            None => Err(self.err("unexpected end of input")),
        }
    }

    fn bare(&mut self) -> Result<&[u8], FastJsonError> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if matches!(c, b',' | b':' | b']' | b'}' | b'{' | b'[' | b'"')
                || c.is_ascii_whitespace()
            {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("expected a value"));
        }
        Ok(&self.s[start..self.pos])
    }

    fn string(&mut self, out: &mut Vec<u8>) -> Result<(), FastJsonError> {
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string")),
                Some(b'\\') => self.pos += 2,
                Some(b'"') => {
                    self.pos += 1;
                    break;
                }
                Some(_) => self.pos += 1,
            }
        }
        if self.pos > self.s.len() {
            return Err(self.err("unterminated string"));
        }
        out.extend_from_slice(&self.s[start..self.pos]);
        Ok(())
    }

    fn object(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<(), FastJsonError> {
        self.pos += 1;
        out.push(b'{');
        self.ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            out.push(b'}');
            return Ok(());
        }
        loop {
            self.ws();
            match self.peek() {
                Some(b'"') => self.string(out)?,
                Some(b'{') | Some(b'[') => {
                    let mut key = Vec::new();
                    self.value(&mut key, depth + 1)?;
                    push_quoted(out, &key);
                }
                Some(_) => {
                    let token = self.bare()?.to_vec();
                    push_quoted(out, &token);
                }
                None => return Err(self.err("unexpected end of input in an object")),
            }
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.err("expected ':' after an object key"));
            }
            self.pos += 1;
            out.push(b':');
            self.value(out, depth + 1)?;
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    out.push(b',');
                }
                Some(b'}') => {
                    self.pos += 1;
                    out.push(b'}');
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}' in an object")),
            }
        }
    }

    fn array(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<(), FastJsonError> {
        self.pos += 1;
        out.push(b'[');
        self.ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            out.push(b']');
            return Ok(());
        }
        loop {
            self.value(out, depth + 1)?;
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.pos += 1;
                    out.push(b',');
                }
                Some(b']') => {
                    self.pos += 1;
                    out.push(b']');
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or ']' in an array")),
            }
        }
    }
}

/// Appends `raw` as a JSON string literal, escaping what JSON requires.
fn push_quoted(out: &mut Vec<u8>, raw: &[u8]) {
    out.push(b'"');
    for &c in raw {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            c if c < 0x20 => out.extend_from_slice(format!("\\u{:04x}", c).as_bytes()),
            c => out.push(c),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        String::from_utf8(normalize(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn quotes_numeric_keys() {
        assert_eq!(
            norm(r#"{"brokerAddrs":{0:"a:1",1:"b:2"}}"#),
            r#"{"brokerAddrs":{"0":"a:1","1":"b:2"}}"#
        );
    }

    #[test]
    fn turns_object_keys_into_strings() {
        let got = norm(r#"{{"brokerName":"b","queueId":0}:{"x":1}}"#);
        let v: serde_json::Value = serde_json::from_str(&got).unwrap();
        let (k, val) = v.as_object().unwrap().iter().next().unwrap();
        assert_eq!(k, r#"{"brokerName":"b","queueId":0}"#);
        assert_eq!(val["x"], 1);
    }

    #[test]
    fn leaves_standard_json_alone() {
        let s = r#"{"a":[1,2,{"b":"c\"d"}],"e":null,"f":true,"g":-1.5e3}"#;
        assert_eq!(norm(s), s);
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "",
            "{",
            "{\"a\"",
            "{\"a\":}",
            "[1,",
            "\"abc",
            "{a b:1}",
            "}",
            "{\"a\":1}x",
            "\"\\",
        ] {
            assert!(normalize(bad.as_bytes()).is_err(), "{bad:?}");
        }
        let deep = "[".repeat(1000);
        assert!(normalize(deep.as_bytes()).is_err());
    }
}
