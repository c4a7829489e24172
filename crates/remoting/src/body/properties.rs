//! Java `.properties` text: the body of GET_BROKER_CONFIG (26) and UPDATE_BROKER_CONFIG (25).
//!
//! Java's broker writes its configuration as bare `key=value` lines and reads an update with
//! `Properties.load`, so the reader here follows `Properties.load`'s rules: `#` and `!` start a
//! comment line; a key ends at the first unescaped `=`, `:` or blank, and the separator may be
//! surrounded by blanks; a line ending in an odd number of backslashes continues on the next
//! (whose leading blanks are dropped); `\t`, `\n`, `\r`, `\f`, `\uXXXX` are escapes, any other
//! escaped character stands for itself. The writer escapes what that reader would otherwise
//! take apart (separators and blanks in keys, a value's leading blank, backslashes, line breaks,
//! comment marks), so `read_properties(&write_properties(p)) == p` for any pairs (property-tested),
//! and a Java broker reads the same text the same way.

/// The pairs of a properties text, in order of appearance. A key given twice appears twice
/// (`Properties.load` keeps the last; callers decide).
pub fn read_properties(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in logical_lines(text) {
        let chars: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < chars.len() && is_blank(chars[i]) {
            i += 1;
        }
        if i == chars.len() || chars[i] == '#' || chars[i] == '!' {
            continue;
        }
        let key_start = i;
        while i < chars.len() && !matches!(chars[i], '=' | ':') && !is_blank(chars[i]) {
            if chars[i] == '\\' {
                i += 1;
            }
            i += 1;
        }
        let key_end = i.min(chars.len());
        while i < chars.len() && is_blank(chars[i]) {
            i += 1;
        }
        if i < chars.len() && matches!(chars[i], '=' | ':') {
            i += 1;
            while i < chars.len() && is_blank(chars[i]) {
                i += 1;
            }
        }
        let key = unescape(&chars[key_start..key_end]);
        let value = unescape(&chars[i.min(chars.len())..]);
        out.push((key, value));
    }
    out
}

/// `pairs` as properties text, one `key=value` line each, escaped so that `read_properties` and
/// Java's `Properties.load` read back exactly these pairs.
pub fn write_properties<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        escape_into(&mut out, k.as_ref(), true);
        out.push('=');
        escape_into(&mut out, v.as_ref(), false);
        out.push('\n');
    }
    out
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{c}')
}

/// Joins continued lines: a line ending in an odd number of backslashes goes on with the next
/// one, minus that backslash and the next line's leading blanks.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current: Option<String> = None;
    let text = text.replace("\r\n", "\n");
    for raw in text.split(['\n', '\r']) {
        let piece = match current {
            Some(_) => raw.trim_start_matches(is_blank),
            None => raw,
        };
        let trailing = piece.chars().rev().take_while(|&c| c == '\\').count();
        let continues = trailing % 2 == 1;
        let kept = if continues {
            &piece[..piece.len() - 1]
        } else {
            piece
        };
        let line = current.get_or_insert_with(String::new);
        line.push_str(kept);
        if !continues {
            lines.extend(current.take());
        }
    }
    lines.extend(current);
    lines
}

fn unescape(chars: &[char]) -> String {
    let mut out = String::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' || i == chars.len() {
            out.push(c);
            continue;
        }
        let e = chars[i];
        i += 1;
        match e {
            't' => out.push('\t'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            'f' => out.push('\u{c}'),
            'u' => {
                let hex: String = chars[i..chars.len().min(i + 4)].iter().collect();
                match u32::from_str_radix(&hex, 16) {
                    Ok(unit) if hex.len() == 4 => {
                        i += 4;
                        push_utf16_unit(&mut out, unit, chars, &mut i);
                    }
                    // Java throws on a malformed \u escape; keep the text rather than fail the
                    // whole body.
                    _ => out.push('u'),
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// Pushes one UTF-16 code unit of a `\uXXXX` escape; a high surrogate takes the low one that
/// follows as another escape, and an unpaired surrogate becomes U+FFFD.
fn push_utf16_unit(out: &mut String, unit: u32, chars: &[char], i: &mut usize) {
    let escape_follows = chars.get(*i) == Some(&'\\') && chars.get(*i + 1) == Some(&'u');
    if (0xD800..0xDC00).contains(&unit) && escape_follows {
        let hex: String = chars[*i + 2..chars.len().min(*i + 6)].iter().collect();
        if let Ok(low) = u32::from_str_radix(&hex, 16) {
            if hex.len() == 4 && (0xDC00..0xE000).contains(&low) {
                *i += 6;
                let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                return;
            }
        }
    }
    out.push(char::from_u32(unit).unwrap_or('\u{FFFD}'));
}

fn escape_into(out: &mut String, s: &str, is_key: bool) {
    for (n, c) in s.chars().enumerate() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{c}' => out.push_str("\\f"),
            ' ' if is_key || n == 0 => out.push_str("\\ "),
            '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            // Java's `load(InputStream)` reads ISO-8859-1: anything else goes as an escape.
            c if !c.is_ascii() || c.is_ascii_control() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(text: &str) -> Vec<(String, String)> {
        read_properties(text)
    }

    fn p(k: &str, v: &str) -> (String, String) {
        (k.to_string(), v.to_string())
    }

    #[test]
    fn reads_what_java_brokers_and_admins_write() {
        let text = "# a comment\n! another\n\nbrokerName=broker-a\nlistenPort = 10911\n\
                    flushDiskType:SYNC_FLUSH\n  namesrvAddr   127.0.0.1:9876;127.0.0.2:9876\nempty=\n";
        assert_eq!(
            pairs(text),
            vec![
                p("brokerName", "broker-a"),
                p("listenPort", "10911"),
                p("flushDiskType", "SYNC_FLUSH"),
                p("namesrvAddr", "127.0.0.1:9876;127.0.0.2:9876"),
                p("empty", ""),
            ]
        );
    }

    #[test]
    fn escapes_and_continued_lines() {
        let text =
            "a\\=b=c\\:d\\\\e\nlong=one \\\r\n    two\nu=\\u00e9\\uD83D\\uDE00\\q\r\nk\\ ey=\\ v";
        assert_eq!(
            pairs(text),
            vec![
                p("a=b", "c:d\\e"),
                p("long", "one two"),
                p("u", "é😀q"),
                p("k ey", " v"),
            ]
        );
    }

    #[test]
    fn malformed_escapes_do_not_fail() {
        assert_eq!(pairs("a=\\u12\nb=\\"), vec![p("a", "u12"), p("b", "")]);
        assert_eq!(pairs("x=\\uD800"), vec![p("x", "\u{FFFD}")]);
    }

    #[test]
    fn writes_what_it_reads_back() {
        let written = write_properties(&[
            p("brokerPermission", "4"),
            p("odd key=:#!", " lead\\ing\nline é"),
        ]);
        assert_eq!(written.lines().next(), Some("brokerPermission=4"));
        assert_eq!(
            pairs(&written),
            vec![
                p("brokerPermission", "4"),
                p("odd key=:#!", " lead\\ing\nline é")
            ]
        );
    }
}
