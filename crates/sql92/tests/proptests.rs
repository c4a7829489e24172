//! Property tests: no input makes `parse` or `matches` panic; random well-formed selectors,
//! printed with as few parentheses as the precedence rules allow, evaluate as a small
//! independent reference evaluator says (so the parser's precedence and associativity are
//! exercised, not just its happy path); and `Encoded` agrees with a map of the same pairs.

use std::collections::HashMap;

use courier_sql92::{Encoded, Properties, Selector};
use proptest::prelude::*;

// --- 1. Nothing panics --------------------------------------------------------------------------

/// Fragments that make up selector-like text, valid or not, so that random texts get past the
/// first token often enough to reach the parser's and evaluator's corners.
const FRAGMENTS: &[&str] = &[
    "a",
    "b",
    "A",
    "$x",
    "_",
    "NOT",
    "not",
    "AND",
    "or",
    "BETWEEN",
    "IN",
    "TRUE",
    "false",
    "NULL",
    "IS",
    "CONTAINS",
    "STARTSWITH",
    "endswith",
    "0",
    "5",
    "007",
    "5L",
    "2147483648",
    "99999999999999999999",
    "1.5",
    ".5",
    "5.",
    "1e3",
    "1e",
    "0.0",
    "1e400",
    "'x'",
    "''",
    "'a''b'",
    "'",
    "'1'",
    "'true'",
    "=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "(",
    ")",
    ",",
    "+",
    "-",
    "--",
    "-- c\n",
    "/*",
    "*/",
    "/* c */",
    "!",
    "!=",
    ".",
    "#",
    "\n",
    " ",
    "é",
    "\"",
    "\u{0}",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(FRAGMENTS),
            prop::sample::select(&[" ", " ", ""][..]),
        ),
        0..24,
    )
    .prop_map(|parts| parts.into_iter().map(|(f, s)| format!("{f}{s}")).collect())
}

fn any_props() -> impl Strategy<Value = HashMap<String, String>> {
    prop::collection::hash_map(
        prop::sample::select(&["a", "b", "A", "$x", "_", "x"][..]).prop_map(str::to_string),
        prop_oneof![
            prop::sample::select(
                &["1", "5", "-5", "1.5", "5.0", "x", "true", "NaN", " 5", "٣", "0x1p3", ""][..]
            )
            .prop_map(str::to_string),
            any::<String>(),
        ],
        0..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics_on_arbitrary_text(text in any::<String>()) {
        let _ = Selector::parse(&text);
    }

    #[test]
    fn parse_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = Selector::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn parsed_selectors_evaluate_without_panicking(text in soup(), props in any_props()) {
        if let Ok(s) = Selector::parse(&text) {
            let m = s.matches(&props);
            // However a map is presented, the answer is the same.
            let pairs: Vec<(&str, &str)> =
                props.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            prop_assert_eq!(s.matches(&pairs[..]), m);
            let names = s.properties();
            prop_assert!(names.windows(2).all(|w| w[0] < w[1]));
            prop_assert_eq!(s.text(), text.as_str());
        }
    }

    #[test]
    fn matches_never_panics_on_arbitrary_encoded_properties(
        text in soup(),
        encoded in "[ab\u{1}\u{2}x1]{0,24}",
    ) {
        if let Ok(s) = Selector::parse(&text) {
            let m = s.matches(&Encoded(&encoded));
            prop_assert_eq!(m, s.matches(&java_decode(&encoded)));
        }
    }
}

// --- 2. Random well-formed selectors against a reference evaluator -------------------------

const NAMES: [&str; 3] = ["a", "b", "c"];
const VALUES: [&str; 12] = [
    "1", "2", "5", "10", "-3", "007", "2.5", "abc", "x", "ax", "true", "",
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Lit {
    Int(i32),
    Double(f64),
    Str(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
}

/// A condition, by construction one the Java parser accepts.
#[derive(Debug, Clone)]
enum Cond {
    Const(Option<bool>),
    /// `prop op literal`; a string literal only with = and <>.
    Cmp(usize, Op, Lit),
    IsNull(usize, bool),
    /// `prop [NOT] BETWEEN lo AND hi` with lo <= hi.
    Between(usize, i32, i32, bool),
    In(usize, Vec<&'static str>, bool),
    Text(usize, TextOp, &'static str, bool),
    Not(Box<Cond>),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

fn lit() -> impl Strategy<Value = Lit> {
    prop_oneof![
        (-5i32..12).prop_map(Lit::Int),
        prop::sample::select(&[0.5, 2.5, 5.0, 10.0, 1e3][..]).prop_map(Lit::Double),
        prop::sample::select(&VALUES[..]).prop_map(Lit::Str),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop::sample::select(&[Op::Eq, Op::Ne, Op::Gt, Op::Ge, Op::Lt, Op::Le][..])
}

fn leaf() -> impl Strategy<Value = Cond> {
    let name = 0..NAMES.len();
    prop_oneof![
        prop::sample::select(&[Some(true), Some(false), None][..]).prop_map(Cond::Const),
        (name.clone(), op(), lit()).prop_map(|(n, op, l)| match l {
            Lit::Str(_) if !matches!(op, Op::Eq | Op::Ne) => Cond::Cmp(n, Op::Eq, l),
            _ => Cond::Cmp(n, op, l),
        }),
        (name.clone(), any::<bool>()).prop_map(|(n, neg)| Cond::IsNull(n, neg)),
        (name.clone(), -5i32..12, 0i32..8, any::<bool>())
            .prop_map(|(n, lo, span, neg)| Cond::Between(n, lo, lo + span, neg)),
        (
            name.clone(),
            prop::collection::vec(prop::sample::select(&VALUES[..]), 1..4),
            any::<bool>()
        )
            .prop_map(|(n, list, neg)| Cond::In(n, list, neg)),
        (
            name,
            prop::sample::select(&[TextOp::Contains, TextOp::StartsWith, TextOp::EndsWith][..]),
            prop::sample::select(&["a", "x", "1", "", "ab", "c"][..]),
            any::<bool>()
        )
            .prop_map(|(n, op, needle, neg)| Cond::Text(n, op, needle, neg)),
    ]
}

fn cond() -> impl Strategy<Value = Cond> {
    leaf().prop_recursive(6, 40, 2, |inner| {
        prop_oneof![
            inner.clone().prop_map(|c| Cond::Not(Box::new(c))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Cond::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner).prop_map(|(l, r)| Cond::Or(Box::new(l), Box::new(r))),
        ]
    })
}

/// How the text is dressed: keyword case, blanks, comments, redundant parentheses. Drawn once
/// per case and consumed as the text is written.
#[derive(Debug, Clone)]
struct Style(Vec<u8>, usize);

impl Style {
    fn next(&mut self) -> u8 {
        let b = self
            .0
            .get(self.1 % self.0.len().max(1))
            .copied()
            .unwrap_or(0);
        self.1 += 1;
        b
    }
    fn kw(&mut self, k: &str) -> String {
        match self.next() % 3 {
            0 => k.to_string(),
            1 => k.to_ascii_lowercase(),
            _ => k
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if i % 2 == 0 {
                        c.to_ascii_lowercase()
                    } else {
                        c
                    }
                })
                .collect(),
        }
    }
    fn gap(&mut self) -> &'static str {
        match self.next() % 8 {
            0 => "  ",
            1 => "\n",
            2 => " /* c */ ",
            3 => " -- c\n",
            4 => "\t",
            _ => " ",
        }
    }
}

/// Binding strength of what a node prints as, lowest first.
fn level(c: &Cond) -> u8 {
    match c {
        Cond::Or(..) => 0,
        Cond::And(..) => 1,
        // Comparisons, BETWEEN, IN, IS NULL and friends.
        Cond::Cmp(..) | Cond::IsNull(..) | Cond::Between(..) | Cond::In(..) | Cond::Text(..) => 2,
        // Prefix NOT and literals: unary expressions.
        Cond::Not(_) | Cond::Const(_) => 3,
    }
}

fn lit_text(l: Lit) -> String {
    match l {
        Lit::Int(i) => i.to_string(),
        Lit::Double(d) => format!("{d:?}"),
        Lit::Str(s) => format!("'{}'", s.replace('\'', "''")),
    }
}

/// Prints `c` where something binding at least as tightly as `min` is needed, with
/// parentheses only when required (and sometimes when not).
fn print(c: &Cond, min: u8, st: &mut Style) -> String {
    let body = match c {
        Cond::Const(v) => st.kw(match v {
            Some(true) => "TRUE",
            Some(false) => "FALSE",
            None => "NULL",
        }),
        Cond::Cmp(n, op, l) => {
            let op = match op {
                Op::Eq => "=",
                Op::Ne => "<>",
                Op::Gt => ">",
                Op::Ge => ">=",
                Op::Lt => "<",
                Op::Le => "<=",
            };
            format!("{}{}{op}{}{}", NAMES[*n], st.gap(), st.gap(), lit_text(*l))
        }
        Cond::IsNull(n, neg) => {
            let not = if *neg {
                format!("{} ", st.kw("NOT"))
            } else {
                String::new()
            };
            format!("{} {} {not}{}", NAMES[*n], st.kw("IS"), st.kw("NULL"))
        }
        Cond::Between(n, lo, hi, neg) => {
            let not = if *neg {
                format!("{} ", st.kw("NOT"))
            } else {
                String::new()
            };
            format!(
                "{} {not}{} {lo} {} {hi}",
                NAMES[*n],
                st.kw("BETWEEN"),
                st.kw("AND")
            )
        }
        Cond::In(n, list, neg) => {
            let not = if *neg {
                format!("{} ", st.kw("NOT"))
            } else {
                String::new()
            };
            let items: Vec<String> = list.iter().map(|s| lit_text(Lit::Str(s))).collect();
            format!("{} {not}{} ({})", NAMES[*n], st.kw("IN"), items.join(", "))
        }
        Cond::Text(n, op, needle, neg) => {
            let not = if *neg {
                format!("{} ", st.kw("NOT"))
            } else {
                String::new()
            };
            let op = match op {
                TextOp::Contains => "CONTAINS",
                TextOp::StartsWith => "STARTSWITH",
                TextOp::EndsWith => "ENDSWITH",
            };
            format!(
                "{} {not}{} {}",
                NAMES[*n],
                st.kw(op),
                lit_text(Lit::Str(needle))
            )
        }
        // NOT takes a unary expression: anything else needs parentheses.
        Cond::Not(x) => format!("{}{}{}", st.kw("NOT"), st.gap(), print(x, 3, st)),
        // Left-associative chains: the left operand may be the same operator bare, the right
        // one must bind tighter.
        Cond::And(l, r) => {
            let (l, r) = (print(l, 1, st), print(r, 2, st));
            format!("{l}{}{}{}{r}", st.gap(), st.kw("AND"), st.gap())
        }
        Cond::Or(l, r) => {
            let (l, r) = (print(l, 0, st), print(r, 1, st));
            format!("{l}{}{}{}{r}", st.gap(), st.kw("OR"), st.gap())
        }
    };
    if level(c) < min || st.next() % 11 == 0 {
        format!("({body})")
    } else {
        body
    }
}

#[derive(Debug, PartialEq)]
struct Failed;

/// Reference semantics, written from RocketMQ's rules independently of the crate:
/// `Ok(None)` is NULL, `Err` an evaluation error (Java throws).
fn reference(c: &Cond, props: &HashMap<String, String>) -> Result<Option<bool>, Failed> {
    let get = |n: &usize| props.get(NAMES[*n]).map(String::as_str);
    Ok(match c {
        Cond::Const(v) => *v,
        Cond::Cmp(n, op, l) => {
            let Some(s) = get(n) else { return Ok(None) };
            let ord = match l {
                Lit::Int(i) => s.parse::<i32>().map_err(|_| Failed)?.cmp(i),
                Lit::Double(d) => {
                    let v: f64 = s.trim().parse().map_err(|_| Failed)?;
                    v.partial_cmp(d).ok_or(Failed)?
                }
                Lit::Str(t) => {
                    let eq = s == *t;
                    return Ok(Some(if *op == Op::Eq { eq } else { !eq }));
                }
            };
            Some(match op {
                Op::Eq => ord.is_eq(),
                Op::Ne => !ord.is_eq(),
                Op::Gt => ord.is_gt(),
                Op::Ge => ord.is_ge(),
                Op::Lt => ord.is_lt(),
                Op::Le => ord.is_le(),
            })
        }
        Cond::IsNull(n, neg) => Some(get(n).is_none() != *neg),
        Cond::Between(n, lo, hi, neg) => {
            let Some(s) = get(n) else { return Ok(None) };
            let v: i32 = s.parse().map_err(|_| Failed)?;
            Some((*lo <= v && v <= *hi) != *neg)
        }
        Cond::In(n, list, neg) => get(n).map(|s| list.contains(&s) != *neg),
        Cond::Text(n, op, needle, neg) => Some(match get(n) {
            Some(s) if !needle.is_empty() => {
                let hit = match op {
                    TextOp::Contains => s.contains(needle),
                    TextOp::StartsWith => s.starts_with(needle),
                    TextOp::EndsWith => s.ends_with(needle),
                };
                hit != *neg
            }
            _ => false,
        }),
        Cond::Not(x) => reference(x, props)?.map(|b| !b),
        Cond::And(l, r) => {
            let l = reference(l, props)?;
            if l == Some(false) {
                return Ok(Some(false));
            }
            match (l, reference(r, props)?) {
                (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            }
        }
        Cond::Or(l, r) => {
            let l = reference(l, props)?;
            if l == Some(true) {
                return Ok(Some(true));
            }
            match (l, reference(r, props)?) {
                (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            }
        }
    })
}

fn props_strategy() -> impl Strategy<Value = HashMap<String, String>> {
    prop::collection::hash_map(
        prop::sample::select(&NAMES[..]).prop_map(str::to_string),
        prop::sample::select(&VALUES[..]).prop_map(str::to_string),
        0..=NAMES.len(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_selectors_match_the_reference(
        c in cond(),
        style in prop::collection::vec(any::<u8>(), 1..64),
        props in prop::collection::vec(props_strategy(), 1..6),
    ) {
        let text = print(&c, 0, &mut Style(style, 0));
        let s = Selector::parse(&text)
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let negated = Selector::parse(&format!("NOT ({text})"))
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        for p in &props {
            let want = reference(&c, p);
            prop_assert_eq!(s.matches(p), want == Ok(Some(true)), "{:?} with {:?}", text, p);
            prop_assert_eq!(
                negated.matches(p),
                want == Ok(Some(false)),
                "NOT ({:?}) with {:?}", text, p
            );
        }
    }
}

// --- 3. Encoded lookups agree with a map --------------------------------------------------------

/// The map Java's `MessageDecoder.string2messageProperties` builds: split on \u{2}, name up to
/// the first \u{1}, empty names and values skipped, later pairs replacing earlier ones.
fn java_decode(s: &str) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for seg in s.split('\u{2}') {
        if let Some((k, v)) = seg.split_once('\u{1}') {
            if !k.is_empty() && !v.is_empty() {
                m.insert(k.to_string(), v.to_string());
            }
        }
    }
    m
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn encoded_agrees_with_a_map_of_the_same_pairs(
        pairs in prop::collection::vec(("[abAB_]{0,3}", "[^\u{1}\u{2}]{0,6}"), 0..8),
        trailing in any::<bool>(),
    ) {
        let mut encoded: String = pairs
            .iter()
            .map(|(k, v)| format!("{k}\u{1}{v}\u{2}"))
            .collect();
        if !trailing {
            encoded.pop();
        }
        // Inserted in order, as a producer's map would have been built.
        let mut map = HashMap::new();
        for (k, v) in &pairs {
            if !k.is_empty() && !v.is_empty() {
                map.insert(k.clone(), v.clone());
            }
        }
        let e = Encoded(&encoded);
        for name in pairs.iter().map(|(k, _)| k.as_str()).chain(["a", "b", "ab", "zz", ""]) {
            prop_assert_eq!(e.get(name), map.get(name).map(String::as_str), "{:?} in {:?}", name, encoded);
        }
        prop_assert_eq!(java_decode(&encoded), map);
    }

    #[test]
    fn encoded_with_arbitrary_separators_agrees_with_the_java_decoder(
        encoded in "[ab\u{1}\u{2}]{0,16}",
        name in "[ab]{1,2}",
    ) {
        let map = java_decode(&encoded);
        let e = Encoded(&encoded);
        prop_assert_eq!(e.get(&name), map.get(&name).map(String::as_str));
        let s = Selector::parse(&format!("{name} = 'b' OR {name} IS NULL")).unwrap();
        prop_assert_eq!(s.matches(&Encoded(&encoded)), s.matches(&map));
    }
}
