//! Tolerance for fastjson's non-standard JSON: maps with numeric keys written without quotes
//! (`{"offsetTable":{"t@g":{0:12,1:7}}}`), which Java brokers write to `consumerOffset.json`
//! and `delayOffset.json`.
//!
//! `quote_numeric_keys` rewrites such text into standard JSON before serde sees it. It only
//! touches a bare number that sits in key position (right after `{` or `,`, outside strings,
//! and followed by `:`), so standard JSON passes through unchanged (borrowed, no copy).

use std::borrow::Cow;

/// Returns `text` with every unquoted numeric object key wrapped in quotes.
pub fn quote_numeric_keys(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied_to = 0;
    let mut in_string = false;
    let mut escaped = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match b {
            b'"' => {
                in_string = true;
                i += 1;
            }
            b'{' | b',' => {
                let mut j = i + 1;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                let start = j;
                while j < bytes.len()
                    && (bytes[j].is_ascii_digit() || matches!(bytes[j], b'-' | b'+' | b'.'))
                {
                    j += 1;
                }
                let end = j;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if end > start && j < bytes.len() && bytes[j] == b':' {
                    let buf = out.get_or_insert_with(|| String::with_capacity(text.len() + 16));
                    buf.push_str(&text[copied_to..start]);
                    buf.push('"');
                    buf.push_str(&text[start..end]);
                    buf.push('"');
                    copied_to = end;
                }
                i = end.max(i + 1);
            }
            _ => i += 1,
        }
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut buf) => {
            buf.push_str(&text[copied_to..]);
            Cow::Owned(buf)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_json_is_untouched() {
        let s = r#"{"a":{"0":1,"1":[1, 2,3]},"b":"x{0:1}"}"#;
        assert!(matches!(quote_numeric_keys(s), Cow::Borrowed(_)));
    }

    #[test]
    fn unquoted_numeric_keys_are_quoted() {
        let s = r#"{"offsetTable":{"t@g":{0:12, 1 :7,-1:3}}}"#;
        let fixed = quote_numeric_keys(s);
        assert_eq!(fixed, r#"{"offsetTable":{"t@g":{"0":12, "1" :7,"-1":3}}}"#);
        let v: serde_json::Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(v["offsetTable"]["t@g"]["1"], 7);
    }

    proptest::proptest! {
        /// Whatever a damaged or hand-edited offsets file holds, the rewrite never panics and
        /// only ever adds quotes; and a map keyed by unquoted numbers always parses afterwards.
        #[test]
        fn any_text_is_rewritten_safely(text in "[{}\\[\\],:\"\\\\ 0-9a-z.+-]{0,40}|\\PC{0,40}") {
            let fixed = quote_numeric_keys(&text);
            proptest::prop_assert_eq!(fixed.replace('"', ""), text.replace('"', ""));
        }

        #[test]
        fn numeric_keys_parse_after_the_rewrite(
            entries in proptest::collection::btree_map(-1000i64..1000, 0i64..1 << 40, 0..8),
            spaces in " {0,2}",
        ) {
            let body: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{spaces}{k}{spaces}:{v}"))
                .collect();
            let text = format!("{{\"offsetTable\":{{\"t@g\":{{{}}}}}}}", body.join(","));
            let v: serde_json::Value = serde_json::from_str(&quote_numeric_keys(&text)).unwrap();
            for (k, want) in &entries {
                proptest::prop_assert_eq!(v["offsetTable"]["t@g"][k.to_string()].as_i64(), Some(*want));
            }
        }
    }

    #[test]
    fn strings_with_braces_and_escapes_are_not_rewritten() {
        let s = r#"{"k":"a\",{0:1}","m":{2:3}}"#;
        assert_eq!(quote_numeric_keys(s), r#"{"k":"a\",{0:1}","m":{"2":3}}"#);
    }
}
