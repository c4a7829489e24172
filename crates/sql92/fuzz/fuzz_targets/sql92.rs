//! Fuzz target `sql92`: arbitrary bytes as a selector text (up to the first NUL) and an
//! encoded properties string (after it). Parsing must not panic, fail the same way twice, and
//! a selector that parses must evaluate without panicking and give one answer however the
//! properties are presented (encoded, or decoded into a map as the Java broker does).
//! `sql92.dict` holds the language's keywords and operators: run with
//! `cargo +nightly fuzz run sql92 -- -dict=sql92.dict`.
#![no_main]

use std::collections::HashMap;

use courier_sql92::{Encoded, Selector};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (text, props) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let props = String::from_utf8_lossy(props);

    let parsed = Selector::parse(&text);
    match (&parsed, Selector::parse(&text)) {
        (Ok(a), Ok(b)) => assert_eq!(a.properties(), b.properties()),
        (Err(a), Err(b)) => assert_eq!(a, &b),
        _ => panic!("parsing {text:?} twice gave different outcomes"),
    }
    let selector = match parsed {
        Ok(s) => s,
        Err(e) => {
            assert!(
                e.position <= text.len(),
                "{e} in a text of {} bytes",
                text.len()
            );
            let _ = e.to_string();
            return;
        }
    };
    assert_eq!(selector.text(), text);
    let names = selector.properties();
    assert!(names.windows(2).all(|w| w[0] < w[1]), "{names:?}");

    // Java's decode: pairs split on \u{2}, name up to the first \u{1}, empty parts skipped,
    // the last of a repeated name kept.
    let mut map = HashMap::new();
    for seg in props.split('\u{2}') {
        if let Some((k, v)) = seg.split_once('\u{1}') {
            if !k.is_empty() && !v.is_empty() {
                map.insert(k.to_string(), v.to_string());
            }
        }
    }
    let encoded = selector.matches(&Encoded(&props));
    assert_eq!(encoded, selector.matches(&map), "{text:?} on {props:?}");
    assert_eq!(encoded, selector.clone().matches(&Encoded(&props)));
});
