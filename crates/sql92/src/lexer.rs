//! Splits selector text into tokens, one at a time on demand, with the token rules of
//! RocketMQ's `SelectorParser.jj` (longest match; a keyword beats an identifier of the same
//! length). Being lazy matters for compatibility: the Java parser never looks at text past the
//! token that follows a complete expression, so garbage there is not an error.

use crate::ParseError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kw {
    Not,
    And,
    Or,
    Between,
    In,
    True,
    False,
    Null,
    Is,
    Contains,
    StartsWith,
    EndsWith,
}

const KEYWORDS: [(&str, Kw); 12] = [
    ("NOT", Kw::Not),
    ("AND", Kw::And),
    ("OR", Kw::Or),
    ("BETWEEN", Kw::Between),
    ("IN", Kw::In),
    ("TRUE", Kw::True),
    ("FALSE", Kw::False),
    ("NULL", Kw::Null),
    ("IS", Kw::Is),
    ("CONTAINS", Kw::Contains),
    ("STARTSWITH", Kw::StartsWith),
    ("ENDSWITH", Kw::EndsWith),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok<'s> {
    Kw(Kw),
    /// `0` or `[1-9][0-9]*` with an optional `l`/`L` (still attached).
    Decimal(&'s str),
    Float(&'s str),
    /// Between the quotes, `''` escapes not yet undone.
    Str(&'s str),
    Id(&'s str),
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    LParen,
    Comma,
    RParen,
    Plus,
    Minus,
    Eof,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Token<'s> {
    pub(crate) tok: Tok<'s>,
    /// Byte offsets in the text.
    pub(crate) start: usize,
    pub(crate) end: usize,
}

pub(crate) struct Lexer<'s> {
    src: &'s str,
    pos: usize,
}

fn error(message: impl Into<String>, position: usize) -> ParseError {
    ParseError {
        message: message.into(),
        position,
    }
}

fn is_id_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$'
}

fn is_id_part(b: u8) -> bool {
    is_id_start(b) || b.is_ascii_digit()
}

impl<'s> Lexer<'s> {
    pub(crate) fn new(src: &'s str) -> Self {
        Lexer { src, pos: 0 }
    }

    pub(crate) fn next_token(&mut self) -> Result<Token<'s>, ParseError> {
        self.skip_blanks_and_comments()?;
        let start = self.pos;
        let b = self.src.as_bytes();
        let Some(&c) = b.get(start) else {
            return Ok(Token {
                tok: Tok::Eof,
                start,
                end: start,
            });
        };
        let next = b.get(start + 1).copied();
        let (tok, len) = match c {
            b'(' => (Tok::LParen, 1),
            b')' => (Tok::RParen, 1),
            b',' => (Tok::Comma, 1),
            b'+' => (Tok::Plus, 1),
            b'-' => (Tok::Minus, 1),
            b'=' => (Tok::Eq, 1),
            b'<' => match next {
                Some(b'>') => (Tok::Ne, 2),
                Some(b'=') => (Tok::Le, 2),
                _ => (Tok::Lt, 1),
            },
            b'>' => match next {
                Some(b'=') => (Tok::Ge, 2),
                _ => (Tok::Gt, 1),
            },
            b'\'' => return self.string(start),
            b'0'..=b'9' => return Ok(self.number(start)),
            b'.' if next.is_some_and(|n| n.is_ascii_digit()) => return Ok(self.number(start)),
            c if is_id_start(c) => return Ok(self.word(start)),
            b'!' if next == Some(b'=') => {
                return Err(error("'!=' is not an operator; use '<>'", start))
            }
            b'"' => {
                return Err(error(
                    "strings are quoted with ' (a quote inside is written '')",
                    start,
                ))
            }
            _ => {
                let ch = self.src[start..].chars().next().unwrap_or('\u{fffd}');
                return Err(error(
                    format!(
                        "unexpected character {ch:?}; property names are [A-Za-z_$][A-Za-z0-9_$]*"
                    ),
                    start,
                ));
            }
        };
        self.pos = start + len;
        Ok(Token {
            tok,
            start,
            end: self.pos,
        })
    }

    fn skip_blanks_and_comments(&mut self) -> Result<(), ParseError> {
        let b = self.src.as_bytes();
        loop {
            match b.get(self.pos) {
                Some(b' ' | b'\t' | b'\n' | b'\r' | 0x0c) => self.pos += 1,
                Some(b'-') if b.get(self.pos + 1) == Some(&b'-') => {
                    // The Java lexer's line comment must end with a line break; without one,
                    // "--" is two minus signs.
                    match b[self.pos + 2..]
                        .iter()
                        .position(|&c| c == b'\n' || c == b'\r')
                    {
                        Some(p) => self.pos += 2 + p + 1,
                        None => return Ok(()),
                    }
                }
                Some(b'/') if b.get(self.pos + 1) == Some(&b'*') => {
                    match find(&b[self.pos + 2..], b"*/") {
                        Some(p) => self.pos += 2 + p + 2,
                        None => {
                            return Err(error(
                                "unterminated /* comment: close it with */",
                                self.pos,
                            ))
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn string(&mut self, start: usize) -> Result<Token<'s>, ParseError> {
        let b = self.src.as_bytes();
        let mut i = start + 1;
        // Each `''` is an escaped quote, or the end of the literal followed by the start of
        // another; JavaCC takes the longest literal that does end, so an unmatched quote later
        // only fails when (and if) the parser asks for the token it starts.
        let mut could_end = None;
        loop {
            let end = match b[i..].iter().position(|&c| c == b'\'') {
                Some(p) if b.get(i + p + 1) == Some(&b'\'') => {
                    could_end = Some(i + p + 1);
                    i += p + 2;
                    continue;
                }
                Some(p) => i + p + 1,
                None => could_end.ok_or_else(|| {
                    error(
                        "unterminated string literal: close it with ' (a quote inside is written '')",
                        start,
                    )
                })?,
            };
            self.pos = end;
            return Ok(Token {
                tok: Tok::Str(&self.src[start + 1..end - 1]),
                start,
                end,
            });
        }
    }

    fn number(&mut self, start: usize) -> Token<'s> {
        let b = self.src.as_bytes();
        let digits_end = skip_digits(b, start);
        let (tok_end, float) = if b.get(digits_end) == Some(&b'.') {
            let frac_end = skip_digits(b, digits_end + 1);
            (exponent_end(b, frac_end).unwrap_or(frac_end), true)
        } else if let Some(e) = exponent_end(b, digits_end) {
            (e, true)
        } else if b[start] == b'0' {
            // DECIMAL_LITERAL is "0" alone: "007" is three tokens, "0L" is "0" then `L`.
            (start + 1, false)
        } else if matches!(b.get(digits_end), Some(b'l' | b'L')) {
            (digits_end + 1, false)
        } else {
            (digits_end, false)
        };
        self.pos = tok_end;
        let text = &self.src[start..tok_end];
        Token {
            tok: if float {
                Tok::Float(text)
            } else {
                Tok::Decimal(text)
            },
            start,
            end: tok_end,
        }
    }

    fn word(&mut self, start: usize) -> Token<'s> {
        let b = self.src.as_bytes();
        let mut end = start + 1;
        while end < b.len() && is_id_part(b[end]) {
            end += 1;
        }
        self.pos = end;
        let text = &self.src[start..end];
        let tok = KEYWORDS
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(text))
            .map_or(Tok::Id(text), |&(_, kw)| Tok::Kw(kw));
        Token { tok, start, end }
    }
}

fn skip_digits(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// End of a complete `[eE][+-]?[0-9]+` at `i`, if there is one.
fn exponent_end(b: &[u8], i: usize) -> Option<usize> {
    if !matches!(b.get(i), Some(b'e' | b'E')) {
        return None;
    }
    let mut j = i + 1;
    if matches!(b.get(j), Some(b'+' | b'-')) {
        j += 1;
    }
    let end = skip_digits(b, j);
    (end > j).then_some(end)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Undoes the `''` escapes of a string token's content.
pub(crate) fn unescape(raw: &str) -> Box<str> {
    if raw.contains('\'') {
        raw.replace("''", "'").into_boxed_str()
    } else {
        raw.into()
    }
}

/// `text` cut to a length fit for an error message (a token can be most of a 64 KiB text, and
/// messages travel back to the client).
pub(crate) fn clip(text: &str) -> String {
    const MAX_CHARS: usize = 32;
    match text.char_indices().nth(MAX_CHARS) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// How a token reads in an error message.
pub(crate) fn describe(tok: &Tok<'_>, text: &str) -> String {
    let text = clip(text);
    match tok {
        Tok::Eof => "the end of the text".to_string(),
        Tok::Str(_) => "a string literal".to_string(),
        Tok::Decimal(_) | Tok::Float(_) => format!("the number {text}"),
        Tok::Id(_) => format!("the property name {text}"),
        Tok::Kw(_) => format!("the keyword {}", text.to_ascii_uppercase()),
        _ => format!("'{text}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok<'_>> {
        let mut l = Lexer::new(s);
        let mut out = Vec::new();
        loop {
            let t = l.next_token().unwrap();
            if t.tok == Tok::Eof {
                return out;
            }
            out.push(t.tok);
        }
    }

    #[test]
    fn numbers_take_the_longest_java_match() {
        use Tok::*;
        assert_eq!(toks("5"), [Decimal("5")]);
        assert_eq!(toks("5L 7l"), [Decimal("5L"), Decimal("7l")]);
        assert_eq!(toks("007"), [Decimal("0"), Decimal("0"), Decimal("7")]);
        assert_eq!(toks("0L"), [Decimal("0"), Id("L")]);
        assert_eq!(toks("00.5"), [Float("00.5")]);
        assert_eq!(
            toks("5. .5 5.5E10 5.E-1 5e+3"),
            [
                Float("5."),
                Float(".5"),
                Float("5.5E10"),
                Float("5.E-1"),
                Float("5e+3")
            ]
        );
        assert_eq!(toks("5e"), [Decimal("5"), Id("e")]);
        assert_eq!(toks("5e+"), [Decimal("5"), Id("e"), Plus]);
        assert_eq!(toks("1.5e"), [Float("1.5"), Id("e")]);
        assert_eq!(toks("1.2.3"), [Float("1.2"), Float(".3")]);
        assert_eq!(toks("0x1F"), [Decimal("0"), Id("x1F")]);
        assert_eq!(toks("5Lx"), [Decimal("5L"), Id("x")]);
    }

    #[test]
    fn words_keywords_and_operators() {
        use Tok::*;
        assert_eq!(
            toks("not NoT NOTE in inx $a_1 _"),
            [
                Kw(super::Kw::Not),
                Kw(super::Kw::Not),
                Id("NOTE"),
                Kw(super::Kw::In),
                Id("inx"),
                Id("$a_1"),
                Id("_")
            ]
        );
        assert_eq!(
            toks("= <> < <= > >= ( , ) + -"),
            [Eq, Ne, Lt, Le, Gt, Ge, LParen, Comma, RParen, Plus, Minus]
        );
        assert_eq!(toks("a<>b"), [Id("a"), Ne, Id("b")]);
    }

    #[test]
    fn strings_and_comments() {
        use Tok::*;
        assert_eq!(toks("'it''s' ''"), [Str("it''s"), Str("")]);
        // The longest literal that ends: `'a'` here, then `'b''c'`.
        let mut l = Lexer::new("'a''b''c'");
        assert_eq!(l.next_token().unwrap().tok, Str("a''b''c"));
        let mut l = Lexer::new("'a''b");
        assert_eq!(l.next_token().unwrap().tok, Str("a"));
        assert!(l.next_token().is_err());
        assert_eq!(&*unescape("it''s ''''"), "it's ''");
        assert_eq!(
            toks("'--' /* x */ a -- c\n b"),
            [Str("--"), Id("a"), Id("b")]
        );
        assert_eq!(toks("/**/a/* * / **/b"), [Id("a"), Id("b")]);
        assert_eq!(
            toks("a -- no line break"),
            [Id("a"), Minus, Minus, Id("no"), Id("line"), Id("break")]
        );
        assert_eq!(toks("'é' \t\r\n\x0c"), [Str("é")]);
    }

    #[test]
    fn lexical_errors_point_at_the_culprit() {
        for (s, at) in [
            ("a ! b", 2),
            ("a != b", 2),
            ("'abc", 0),
            ("x 'a''", 5),
            ("/* x", 0),
            ("a . b", 2),
            ("é", 0),
            ("\"x\"", 0),
            ("\u{b}", 0),
        ] {
            let mut l = Lexer::new(s);
            let e = loop {
                match l.next_token() {
                    Ok(t) if t.tok == Tok::Eof => panic!("{s:?} lexed"),
                    Ok(_) => continue,
                    Err(e) => break e,
                }
            };
            assert_eq!(e.position, at, "{s:?}: {e}");
        }
    }
}
