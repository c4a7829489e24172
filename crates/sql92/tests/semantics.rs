//! The selector language through the public API, case by case. Expected values come from
//! RocketMQ's Java filter module (the class named next to each group). While this crate was
//! written, every expectation here, outcomes and which texts parse, was also checked against
//! the Java classes themselves; only the size and nesting limits are Courier's own.
//!
//! `state` tells the four outcomes of a condition apart using only `matches`: TRUE matches
//! `e`, FALSE matches `NOT (e)`, NULL matches `(e) IS NULL`, and an evaluation error (Java
//! throws; the broker drops the message) matches none of them.

use courier_sql92::{Encoded, ParseError, Selector, MAX_NESTING, MAX_TEXT_LEN};

fn parse(text: &str) -> Selector {
    Selector::parse(text).unwrap_or_else(|e| panic!("{:?} should parse: {e}", short(text)))
}

fn parse_err(text: &str) -> ParseError {
    match Selector::parse(text) {
        Ok(_) => panic!("{:?} should not parse", short(text)),
        Err(e) => e,
    }
}

/// A text short enough for a failure message.
fn short(text: &str) -> String {
    match text.char_indices().nth(80) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// 'T', 'F', 'N' (NULL) or 'X' (evaluation error).
fn state(text: &str, props: &[(&str, &str)]) -> char {
    let t = parse(text).matches(props);
    let f = parse(&format!("NOT ({text})")).matches(props);
    let n = parse(&format!("({text}) IS NULL")).matches(props);
    match (t, f, n) {
        (true, false, false) => 'T',
        (false, true, false) => 'F',
        (false, false, true) => 'N',
        (false, false, false) => 'X',
        other => panic!("{text:?}: inconsistent outcomes {other:?}"),
    }
}

fn check(text: &str, props: &[(&str, &str)], expected: char) {
    assert_eq!(state(text, props), expected, "{text:?} with {props:?}");
}

/// For texts that cannot be wrapped in `NOT (…)` (trailing text would land inside).
fn matches(text: &str, props: &[(&str, &str)]) -> bool {
    parse(text).matches(props)
}

const NONE: &[(&str, &str)] = &[];

// --- LogicExpression, UnaryExpression.createNOT, BooleanExpression.matches -------------------

#[test]
fn missing_property_three_valued_logic() {
    check("a = 1", NONE, 'N');
    check("NOT (a = 1)", NONE, 'N');
    check("a IS NULL", NONE, 'T');
    check("a IS NOT NULL", NONE, 'F');
    check("a = 1 OR TRUE", NONE, 'T');
    check("a = 1 AND TRUE", NONE, 'N');
    check("a = 1 AND FALSE", NONE, 'F');
    check("a = 1 OR FALSE", NONE, 'N');
    assert!(!parse("a = 1").matches(NONE));
    assert!(!parse("NOT (a = 1)").matches(NONE));
    assert!(parse("a IS NULL").matches(NONE));
    assert!(parse("a = 1 OR TRUE").matches(NONE));
}

#[test]
fn and_or_not_truth_tables() {
    // NULL is the literal (a BooleanConstantExpression), so it can stand as an operand.
    let values = [("TRUE", Some(true)), ("FALSE", Some(false)), ("NULL", None)];
    for (l, lv) in values {
        for (r, rv) in values {
            let and = match (lv, rv) {
                (Some(false), _) | (_, Some(false)) => 'F',
                (Some(true), Some(true)) => 'T',
                _ => 'N',
            };
            let or = match (lv, rv) {
                (Some(true), _) | (_, Some(true)) => 'T',
                (Some(false), Some(false)) => 'F',
                _ => 'N',
            };
            check(&format!("{l} AND {r}"), NONE, and);
            check(&format!("{l} OR {r}"), NONE, or);
        }
        let not = match lv {
            Some(true) => 'F',
            Some(false) => 'T',
            None => 'N',
        };
        check(&format!("NOT {l}"), NONE, not);
    }
    check("TRUE AND TRUE AND NULL AND TRUE", NONE, 'N');
    check("FALSE OR NULL OR FALSE", NONE, 'N');
    check("NOT NOT TRUE", NONE, 'T');
}

#[test]
fn an_evaluation_error_ends_the_whole_evaluation_unless_short_circuited() {
    // ComparisonExpression: Integer.valueOf("abc") throws; LogicExpression evaluates left to
    // right and stops at the first deciding operand.
    let p = &[("a", "abc"), ("b", "x")];
    check("a > 5", p, 'X');
    check("a > 5 OR b = 'x'", p, 'X');
    check("b = 'x' OR a > 5", p, 'T');
    check("b = 'y' AND a > 5", p, 'F');
    check("a > 5 AND b = 'y'", p, 'X');
    check("NOT (a > 5)", p, 'X');
    check("(a > 5) IS NULL", p, 'X');
}

#[test]
fn only_boolean_true_matches() {
    assert!(parse("TRUE").matches(NONE));
    assert!(!parse("FALSE").matches(NONE));
    assert!(!parse("NULL").matches(NONE));
    // A bare property is a boolean cast (UnaryExpression.createBooleanCast): NULL when
    // missing, FALSE for any string, even "true".
    check("a", NONE, 'N');
    check("a", &[("a", "true")], 'F');
    check("NOT a", &[("a", "true")], 'T');
    check("a OR b", &[("a", "true"), ("b", "TRUE")], 'F');
    check("(a)", &[("a", "x")], 'F');
}

// --- Precedence (SelectorParser.jj) ----------------------------------------------------------

#[test]
fn precedence_and_associativity() {
    // AND binds tighter than OR.
    check("TRUE OR TRUE AND FALSE", NONE, 'T');
    check("(TRUE OR TRUE) AND FALSE", NONE, 'F');
    check("FALSE AND TRUE OR TRUE", NONE, 'T');
    check("FALSE AND (TRUE OR TRUE)", NONE, 'F');
    // NOT binds tighter than AND and OR.
    check("NOT TRUE AND FALSE", NONE, 'F');
    check("NOT FALSE OR FALSE", NONE, 'T');
    check("NOT (FALSE OR TRUE)", NONE, 'F');
    // Comparisons bind tighter than AND/OR.
    let p = &[("a", "1"), ("b", "2")];
    check("a = 1 AND b = 2", p, 'T');
    check("a = 2 OR b = 2 AND a = 1", p, 'T');
    check("a = 2 OR b = 2 AND a = 2", p, 'F');
    check("a > 0 AND b < 3 OR a > 5", p, 'T');
    // NOT is a prefix on one operand, tighter than comparisons: `NOT a = 1` is
    // `(NOT a) = 1`, a Boolean against an Integer, never TRUE (and NULL without `a`).
    check("NOT a = 1", &[("a", "2")], 'F');
    check("NOT a = 1", NONE, 'N');
    check("NOT (a = 1)", &[("a", "2")], 'T');
    check("NOT a IS NULL", NONE, 'T');
    // Ordering comparisons bind tighter than =, so `a > 0 = TRUE` compares a condition.
    check("a > 0 = TRUE", p, 'T');
    check("b < 1 = FALSE", p, 'T');
    // = is left-associative: (a = 1) = TRUE.
    check("a = 1 = TRUE", p, 'T');
    check("a = 2 = FALSE", p, 'T');
    // IS NULL applies to everything left of it at its level.
    check("a = 1 IS NULL", NONE, 'T');
    check("a = 1 IS NOT NULL", p, 'T');
    check("a IS NULL IS NULL", NONE, 'F');
    // BETWEEN's AND belongs to it; the next AND is the logical one.
    check("a BETWEEN 0 AND 1 AND b = 2", p, 'T');
    check("a BETWEEN 0 AND 1 AND b = 3", p, 'F');
}

#[test]
fn keywords_are_case_insensitive_property_names_are_not() {
    let p = &[("a", "1"), ("A", "2"), ("b", "axb")];
    check("a = 1 and A = 2 Or FALSE", p, 'T');
    check(
        "not (a = 2) AnD b cOnTaInS 'x' and b StartsWith 'a' AND b endswith 'b'",
        p,
        'T',
    );
    check("a between 0 and 5 and a Not Between 3 and 4", p, 'T');
    check(
        "a in ('1') and a not in ('2') and a is not null and c Is Null",
        p,
        'T',
    );
    check("true and not false and (null is null)", p, 'T');
    assert_eq!(
        parse("Region = 'x' AND region = 'y'").properties(),
        ["Region", "region"]
    );
}

// --- Literals (ConstantExpression, stringLitteral) --------------------------------------------

#[test]
fn integer_literals() {
    // createFromDecimal: a long, narrowed to an int when it fits; `L` changes nothing.
    let p = &[("a", "5"), ("big", "3000000000")];
    check("a = 5", p, 'T');
    check("a = 5L", p, 'T');
    check("a = 5l", p, 'T');
    check("big = 3000000000", p, 'T');
    check("big = 3000000000L", p, 'T');
    check("big > 2147483648", p, 'T');
    check("big > 2147483647", p, 'X'); // an int literal: Integer.valueOf("3000000000") throws
    check("a = 9223372036854775807", p, 'F');
    check("a = -5", &[("a", "-5")], 'T');
    check("a = -2147483648", &[("a", "-2147483648")], 'T');
    check("a = 0", &[("a", "0")], 'T');
    // Beyond a Java long: refused (new Long(text) throws), never a panic.
    for text in [
        "a > 9223372036854775808",
        "a > 99999999999999999999999",
        "a > -9223372036854775808",
    ] {
        assert_eq!(parse_err(text).position, text.find('9').unwrap(), "{text}");
    }
}

#[test]
fn integer_literal_tokens_follow_the_java_lexer() {
    // DECIMAL_LITERAL is "0" alone or [1-9][0-9]*: `007` is three tokens, and whatever
    // follows the first complete expression is ignored (see trailing_text_is_ignored).
    assert!(matches("a = 007", &[("a", "0")]));
    assert!(matches("a = 0L", &[("a", "0")]));
    assert!(!matches("a = 007", &[("a", "7")]));
    // The float forms take leading zeros.
    check("a = 007.5", &[("a", "7.5")], 'T');
}

#[test]
fn float_literals() {
    let p = &[("a", "5"), ("b", "0.5"), ("c", "3.1415E10")];
    check("a = 5.", p, 'T');
    check("a = 5.0", p, 'T');
    check("a = 5.E0", p, 'T');
    check("a = 5e0", p, 'T');
    check("a = 50E-1", p, 'T');
    check("b = .5", p, 'T');
    check("b = 00.5", p, 'T');
    check("b = 5e-1", p, 'T');
    check("c > 3.1E10", p, 'T');
    check("c > 3.1e+10", p, 'T');
    // createFloat refuses infinity, and (comparing with Double.MIN_VALUE, the smallest
    // positive double) zero.
    for text in [
        "a > 1e400",
        "a > 0.0",
        "a > .0",
        "a > 0e5",
        "a > 1e-400",
        "a > 00.0",
    ] {
        assert_eq!(parse_err(text).position, 4, "{text}");
    }
    check("a > 1e-300", p, 'T');
}

#[test]
fn string_literals_and_escapes() {
    check("a = 'it''s'", &[("a", "it's")], 'T');
    check("a = ''''", &[("a", "'")], 'T');
    check("a = ''''''", &[("a", "''")], 'T');
    // RocketMQ's ExpressionTest: TAGS='''''tag''''' is the value ''tag''.
    check("TAGS = '''''tag'''''", &[("TAGS", "''tag''")], 'T');
    check(
        "a = '--not a comment /* nor this */'",
        &[("a", "--not a comment /* nor this */")],
        'T',
    );
    check("a = 'multi\nline'", &[("a", "multi\nline")], 'T');
    check("a = 'ünï©ødé 😀'", &[("a", "ünï©ødé 😀")], 'T');
    check("a = ''", &[("a", "")], 'T');
    check("a = 'x'", &[("a", "X")], 'F');
}

#[test]
fn boolean_and_null_literals() {
    check("TRUE = TRUE", NONE, 'T');
    check("TRUE = FALSE", NONE, 'F');
    check("TRUE <> FALSE", NONE, 'T');
    check("NULL IS NULL", NONE, 'T');
    check("NULL IS NOT NULL", NONE, 'F');
    check("5 IS NULL", NONE, 'F');
    check("'x' IS NOT NULL", NONE, 'T');
}

#[test]
fn comments_and_blanks() {
    let p = &[("a", "1"), ("b", "2")];
    check("/* c */ a = 1 /* c */ AND /**/ b = 2", p, 'T');
    check("a = 1 -- c\nAND b = 3", p, 'F');
    check("-- leading\r\na = 1", p, 'T');
    check("a\t=\r\n1\x0cAND b=2", p, 'T');
    check("a = 1 /* multi\nline * / ** */ AND b = 2", p, 'T');
    // A `--` comment needs a line break; without one it is two minus signs, here trailing.
    assert!(matches("a = 1 -- no line break", p));
    assert!(Selector::parse("a = 1 /* unterminated").is_err());
}

// --- ComparisonExpression: = and <> ----------------------------------------------------------

#[test]
fn equality_of_strings_and_nulls() {
    let p = &[("a", "x"), ("b", "x"), ("c", "y")];
    check("a = 'x'", p, 'T');
    check("a <> 'x'", p, 'F');
    check("a = b", p, 'T');
    check("a = c", p, 'F');
    check("a <> c", p, 'T');
    check("'x' = a", p, 'T');
    // doCreateEqual: null = null is TRUE; a null only on the left is NULL; only on the right
    // is FALSE (so <> is TRUE).
    check("m = n", p, 'T');
    check("m <> n", p, 'F');
    check("m = a", p, 'N');
    check("a = m", p, 'F');
    check("a <> m", p, 'T');
    check("m <> a", p, 'N');
}

#[test]
fn string_property_against_an_int_literal_uses_integer_value_of() {
    // ComparisonExpression.__compare, String vs Integer: Integer.valueOf(the string).
    check("a = 5", &[("a", "5")], 'T');
    check("a = 5", &[("a", "+5")], 'T');
    check("a = 5", &[("a", "05")], 'T');
    check("a = 5", &[("a", "6")], 'F');
    check("a <> 5", &[("a", "6")], 'T');
    check("5 = a", &[("a", "5")], 'T');
    check("a > 4", &[("a", "5")], 'T');
    check("4 < a", &[("a", "5")], 'T');
    check("a = 3", &[("a", "٣")], 'T'); // Character.digit takes Arabic-Indic digits
                                        // What Integer.valueOf refuses makes the evaluation fail: not FALSE, no match at all.
    for v in ["5.0", " 5", "5 ", "abc", "", "0x5", "2147483648", "1e1"] {
        check("a = 5", &[("a", v)], 'X');
        check("a > 5", &[("a", v)], 'X');
    }
}

#[test]
fn string_property_against_a_long_literal_uses_long_value_of() {
    // A literal beyond an int is a Long, so the property goes through Long.valueOf.
    check("a = 3000000000", &[("a", "3000000000")], 'T');
    check("a < 3000000000", &[("a", "5")], 'T');
    check("a > 3000000000", &[("a", "9223372036854775807")], 'T');
    check("a > 3000000000", &[("a", "9223372036854775808")], 'X');
    check("a > 3000000000", &[("a", "5.5")], 'X');
    // ...while against an int literal the same big value fails.
    check("a > 5", &[("a", "3000000000")], 'X');
}

#[test]
fn string_property_against_a_float_literal_uses_double_value_of() {
    // Double.valueOf trims blanks, takes a sign, NaN, Infinity, hex floats and a d/f suffix.
    for v in [
        "5", "5.0", " 5 ", "+5", "5d", "5F", "50e-1", "0x1.4p2", "5.",
    ] {
        check("a = 5.0", &[("a", v)], 'T');
    }
    check("a > 1.5", &[("a", "Infinity")], 'T');
    check("a < 1.5", &[("a", "-Infinity")], 'T');
    // Double.compareTo puts NaN above everything.
    check("a > 1.5", &[("a", "NaN")], 'T');
    check("a = 1.5", &[("a", "NaN")], 'F');
    for v in ["abc", "", "1,5", "nan", "0x1", "٣", "1e"] {
        check("a > 1.5", &[("a", v)], 'X');
    }
}

#[test]
fn two_strings_in_an_ordering_comparison_are_both_doubles() {
    // ComparisonExpression.evaluate: String vs String under >, >=, <, <= goes through
    // Double.valueOf on both sides, so the order is numeric, not lexicographic.
    let p = &[("a", "10"), ("b", "9"), ("c", "abc")];
    check("a > b", p, 'T');
    check("a <= b", p, 'F');
    check("a > c", p, 'X');
    check("a >= b", &[("a", "1e1"), ("b", " 10 ")], 'T');
    // Double.compareTo: -0.0 is below 0.0, NaN equals NaN.
    check("a < b", &[("a", "-0.0"), ("b", "0")], 'T');
    check("a >= b", &[("a", "NaN"), ("b", "NaN")], 'T');
    // = between two strings stays string equality.
    check("a = b", &[("a", "1.0"), ("b", "1")], 'F');
    check("a = b", &[("a", "NaN"), ("b", "NaN")], 'T');
}

#[test]
fn strings_against_booleans_use_boolean_value_of() {
    // String vs Boolean: Boolean.valueOf(the string), TRUE only for "true" in any case.
    check("a = TRUE", &[("a", "true")], 'T');
    check("a = TRUE", &[("a", "TRUE")], 'T');
    check("a = TRUE", &[("a", "yes")], 'F');
    check("a = FALSE", &[("a", "anything")], 'T');
    check("a <> TRUE", &[("a", "True")], 'F');
    check("'true' = TRUE", NONE, 'T');
    // RocketMQ's ExpressionTest: a=TRUE OR b=FALSE.
    check("a=TRUE OR b=FALSE", &[("a", "true"), ("b", "false")], 'T');
    check("a=TRUE OR b=FALSE", &[("a", "false"), ("b", "true")], 'F');
    // Boolean on the left, String on the right: Java casts the Boolean to a String and throws.
    check("TRUE = a", &[("a", "true")], 'X');
    check("TRUE = a", NONE, 'F');
    check("(a = 'x') = b", &[("a", "x"), ("b", "true")], 'X');
}

#[test]
fn numbers_of_different_types_widen() {
    // __compare: Integer/Long widen to Long, anything with a Double widens to Double.
    check("5 = 5.0", NONE, 'T');
    check("5.0 = 5", NONE, 'T');
    check("3000000000 = 3000000000.0", NONE, 'T');
    check("5 = 5", NONE, 'T');
    check("5 <> 6", NONE, 'T');
    check("a > 2.5", &[("a", "3")], 'T');
    // Booleans and numbers do not compare: Java's -1, so = is FALSE.
    check("1 = TRUE", NONE, 'F');
    check("(a = 'x') = 1", &[("a", "x")], 'F');
    check("'5' = 5", NONE, 'T');
    check("'5' = 5.0", NONE, 'T');
}

#[test]
fn unary_minus_and_plus() {
    // UnaryExpression.createNegate: numbers only; a property (a String) negates to NULL.
    check("-a = -5", &[("a", "5")], 'N');
    check("a = -5", &[("a", "-5")], 'T');
    check("a = - 5", &[("a", "-5")], 'T');
    assert!(
        Selector::parse("a = --5\n").is_err(),
        "`--5` up to the line break is a comment"
    );
    check("a = - -5", &[("a", "5")], 'T');
    check("a > -1.5", &[("a", "-1")], 'T');
    check("a = +5", &[("a", "5")], 'T');
    check("a = +-+5", &[("a", "-5")], 'T');
    check("-a IS NULL", &[("a", "5")], 'T');
    check("-(a = 'x') IS NULL", &[("a", "x")], 'T');
    check("- 2147483648 = -2147483648", NONE, 'T');
}

// --- ComparisonExpression: ordering, BETWEEN -------------------------------------------------

#[test]
fn ordering_operators() {
    let p = &[("a", "5")];
    for (op, expected) in [(">", "FTF"), (">=", "TTF"), ("<", "FFT"), ("<=", "TFT")] {
        let got: String = ["a {op} 5", "a {op} 4", "a {op} 6"]
            .iter()
            .map(|t| state(&t.replace("{op}", op), p))
            .collect();
        assert_eq!(got, expected, "{op}");
    }
    check("a > 5", NONE, 'N');
    check("5 > a", NONE, 'N');
    check("a > b", &[("a", "1")], 'N');
}

#[test]
fn between_and_not_between() {
    let s = "a BETWEEN 2 AND 10";
    let n = "a NOT BETWEEN 2 AND 10";
    for (v, inside) in [
        ("1", false),
        ("2", true),
        ("3", true),
        ("10", true),
        ("11", false),
    ] {
        check(s, &[("a", v)], if inside { 'T' } else { 'F' });
        check(n, &[("a", v)], if inside { 'F' } else { 'T' });
    }
    check(s, NONE, 'N');
    check(n, NONE, 'N');
    check(s, &[("a", "2.5")], 'X'); // Integer.valueOf("2.5") throws
    check("a BETWEEN 2.0 AND 10.0", &[("a", "2.5")], 'T');
    check("a BETWEEN 2.0 AND 10", &[("a", "2.5")], 'X'); // `<= 10` converts with Integer.valueOf
    check("a BETWEEN 2.0 AND 10", &[("a", "1.5")], 'F'); // ...unless `>= 2.0` already failed
    check("a BETWEEN 2 AND 10.0", &[("a", "2.5")], 'X');
    check(
        "a BETWEEN b AND c",
        &[("a", "5"), ("b", "1"), ("c", "9")],
        'T',
    );
    check("a BETWEEN b AND c", &[("a", "5"), ("c", "9")], 'N');
    check("a BETWEEN b AND c", &[("a", "5"), ("b", "6")], 'F');
    check("a NOT BETWEEN b AND c", &[("a", "5"), ("b", "6")], 'T');
    // createBetween checks literal bounds are in order; createNotBetween does not, and a
    // negated bound is not a literal to Java.
    assert_eq!(parse_err("a BETWEEN 10 AND 2").position, 10);
    assert_eq!(parse_err("a BETWEEN 2.5 AND 2").position, 10);
    check("a BETWEEN 2 AND 2", &[("a", "2")], 'T');
    check("a NOT BETWEEN 10 AND 2", &[("a", "5")], 'T');
    check("a BETWEEN -1 AND -5", &[("a", "-3")], 'F');
    check("a BETWEEN -5 AND -1", &[("a", "-3")], 'T');
}

// --- UnaryExpression.createInExpression ------------------------------------------------------

#[test]
fn in_and_not_in() {
    let s = "a IN ('3', '4', '5')";
    let n = "a NOT IN ('3', '4', '5')";
    for (v, member) in [
        ("3", true),
        ("5", true),
        ("8", false),
        ("03", false),
        (" 3", false),
    ] {
        check(s, &[("a", v)], if member { 'T' } else { 'F' });
        check(n, &[("a", v)], if member { 'F' } else { 'T' });
    }
    check(s, NONE, 'N');
    check(n, NONE, 'N');
    check("a IN ('x')", &[("a", "x")], 'T');
    check("a IN ('', 'x''y')", &[("a", "x'y")], 'T');
    check(
        "a IN ('b', 'a', 'c', 'a', 'e', 'f', 'g')",
        &[("a", "a")],
        'T',
    );
    check(
        "a IN ('b', 'a', 'c', 'a', 'e', 'f', 'g')",
        &[("a", "d")],
        'F',
    );
    // The left side may be a property in parentheses or behind a unary plus, nothing else.
    check("(a) IN ('x')", &[("a", "x")], 'T');
    check("+a IN ('x')", &[("a", "x")], 'T');
    for text in ["-a IN ('x')", "'x' IN ('x')", "(a = 1) IN ('x')"] {
        assert_eq!(parse_err(text).position, 0, "{text}");
    }
    assert_eq!(parse_err("a IN (1, 2)").position, 6);
    assert_eq!(parse_err("a IN 'x'").position, 5);
    assert_eq!(parse_err("a IN ()").position, 6);
    assert_eq!(parse_err("a IN ('x',)").position, 10);
}

// --- ComparisonExpression.createIsNull / createIsNotNull ---------------------------------------

#[test]
fn is_null_and_is_not_null_are_never_null() {
    check("a IS NULL", NONE, 'T');
    check("a IS NULL", &[("a", "x")], 'F');
    check("a IS NOT NULL", &[("a", "x")], 'T');
    check("a IS NOT NULL", NONE, 'F');
    check("(a = 1) IS NULL", NONE, 'T');
    check("a IS NULL OR a = 'hello'", NONE, 'T');
    check("a IS NULL OR a = 'hello'", &[("a", "abc")], 'F');
    assert_eq!(parse_err("a IS 5").position, 5);
    assert_eq!(parse_err("a IS NOT 5").position, 9);
}

// --- ComparisonExpression.ContainsExpression and friends ------------------------------------

#[test]
fn contains_startswith_endswith() {
    let p = &[("v", "axb")];
    check("v CONTAINS 'x'", p, 'T');
    check("v STARTSWITH 'ax'", p, 'T');
    check("v ENDSWITH 'xb'", p, 'T');
    check("v CONTAINS 'y'", p, 'F');
    check("v STARTSWITH 'x'", p, 'F');
    check("v ENDSWITH 'a'", p, 'F');
    check("v NOT CONTAINS 'x'", p, 'F');
    check("v NOT STARTSWITH 'ax'", p, 'F');
    check("v NOT ENDSWITH 'xb'", p, 'F');
    check("v NOT CONTAINS 'y'", p, 'T');
    check("v NOT STARTSWITH 'x'", p, 'T');
    check("v NOT ENDSWITH 'a'", p, 'T');
    check("v CONTAINS 'X'", p, 'F');
    check("v CONTAINS 'axb'", p, 'T');
    check("v CONTAINS 'é'", &[("v", "café")], 'T');
    // FALSE, never NULL, in both forms: for a missing property, for an empty search string
    // and for a non-string operand.
    for text in [
        "v CONTAINS 'x'",
        "v NOT CONTAINS 'x'",
        "v STARTSWITH 'x'",
        "v NOT ENDSWITH 'x'",
    ] {
        check(text, NONE, 'F');
    }
    for text in [
        "v CONTAINS ''",
        "v NOT CONTAINS ''",
        "v NOT STARTSWITH ''",
        "v ENDSWITH ''",
    ] {
        check(text, p, 'F');
    }
    check("5 CONTAINS '5'", NONE, 'F');
    check("5 NOT CONTAINS 'x'", NONE, 'F');
    check("(v = 'axb') CONTAINS 'u'", p, 'F');
    // Literals on the left are strings like any other.
    check("'axb' CONTAINS 'x'", NONE, 'T');
    check("' ' STARTSWITH ' '", NONE, 'T');
    check("'axb' NOT ENDSWITH 'u'", NONE, 'T');
    // The search must be a string literal.
    for text in [
        "v CONTAINS x",
        "v CONTAINS 123",
        "v NOT CONTAINS ",
        "v STARTSWITH (v)",
    ] {
        assert!(Selector::parse(text).is_err(), "{text}");
    }
}

// --- SelectorParser: what is refused -------------------------------------------------------

#[test]
fn non_boolean_selectors_are_refused() {
    // JmsSelector ends with asBooleanExpression: a literal string or number, or a negation,
    // is not a condition; a property is cast.
    for text in ["'abc'", "5", "1.5", "-a", "(5)", "-(a = 1)", "+5"] {
        let e = parse_err(text);
        assert!(e.message.contains("not a condition"), "{text}: {e}");
    }
    for text in [
        "5 AND a = 1",
        "a = 1 OR 'x'",
        "NOT 5",
        "NOT 'x'",
        "NOT -a",
        "a = 1 AND -b",
    ] {
        assert!(Selector::parse(text).is_err(), "{text}");
    }
    for text in ["a", "NOT a", "a AND b", "TRUE", "NULL", "+a", "(a)"] {
        parse(text);
    }
}

#[test]
fn operand_checks_at_parse_time() {
    // checkLessThanOperand: no string, boolean or NULL literal, no condition, in >, >=, <, <=
    // and BETWEEN.
    for (text, at) in [
        ("a > 'x'", 4),
        ("'x' < a", 0),
        ("a >= TRUE", 5),
        ("a <= NULL", 5),
        ("(a = 1) > 5", 0),
        ("a > b > c", 0),
        ("NOT a > 5", 0),
        ("a BETWEEN 'a' AND 'b'", 10),
        ("a BETWEEN 1 AND TRUE", 16),
        ("a BETWEEN NULL AND 5", 10),
        ("TRUE BETWEEN 1 AND 2", 0),
        ("a NOT BETWEEN 1 AND 'z'", 20),
    ] {
        assert_eq!(parse_err(text).position, at, "{text}");
    }
    // checkEqualOperand: no NULL literal in = or <>.
    assert_eq!(parse_err("a = NULL").position, 4);
    assert_eq!(parse_err("NULL <> a").position, 0);
    // checkEqualOperandCompatability: a TRUE/FALSE literal on the left takes only another.
    assert_eq!(parse_err("TRUE = 1").position, 0);
    assert_eq!(parse_err("FALSE = 'false'").position, 0);
    parse("1 = TRUE");
    parse("TRUE = a");
    // Negations and properties pass the literal checks.
    parse("-a > -5");
    parse("a BETWEEN -'x' AND 5");
}

#[test]
fn syntax_errors_have_positions_and_hints() {
    for (text, at, hint) in [
        ("", 0, "expected a value"),
        ("   ", 3, "the end of the text"),
        ("a >", 3, "after '>'"),
        ("a > )", 4, "found ')'"),
        ("a = 1 AND", 9, "after 'AND'"),
        ("(a = 1", 6, "')'"),
        ("a != 1", 2, "'<>'"),
        ("a == 1", 3, "after '='"),
        ("a = \"x\"", 4, "quoted with '"),
        ("a = 'x", 4, "unterminated string"),
        ("a = 1 AND b = 'x", 14, "unterminated string"),
        (
            "a NOT LIKE 'x'",
            6,
            "CONTAINS, STARTSWITH, ENDSWITH, BETWEEN or IN",
        ),
        ("a BETWEEN 1 OR 2", 12, "AND"),
        ("a IN ('x'", 9, "',' or ')'"),
        ("a = 1 #", 6, "unexpected character"),
        ("a > 5.5.", 7, "unexpected character"),
        ("/* x", 0, "*/"),
        ("a = é", 4, "unexpected character"),
    ] {
        let e = parse_err(text);
        assert_eq!(e.position, at, "{text:?}: {e}");
        assert!(e.message.contains(hint), "{text:?}: {e}");
        assert!(e.position <= text.len());
    }
}

#[test]
fn trailing_text_is_ignored_as_in_java() {
    // SelectorParser.JmsSelector does not require the end of input: it stops after one
    // complete expression, having lexed only the token after it. So these are `a = 1`.
    for (text, matching) in [
        ("a = 1 b = 2", true),
        ("a = 1)", true),
        ("a = 1 garbage = ", true),
        ("a = 1 LIKE 'x'", true),
        ("a = 1 'x''", true),
        ("a = 1 5", true),
        ("a = 1 -- no line break", true),
        ("a = 1 = 2 ,", false),
    ] {
        let s = parse(text);
        assert_eq!(matches(text, &[("a", "1")]), matching, "{text}");
        assert_eq!(s.text(), text);
        assert_eq!(s.properties(), ["a"], "{text}");
    }
    // After IS [NOT] NULL the comparison clause is closed: Java's equality loop hands `>` or
    // NOT back up, where they end the selector.
    assert!(matches("a IS NULL > 5", NONE));
    assert!(matches("a IS NULL NOT x", NONE));
    assert!(!matches("a IS NULL CONTAINS 'x'", &[("a", "x")]));
    // The token after the expression is lexed, and NOT / IS there start a clause.
    for text in [
        "a = 1 #",
        "a = 1 'x",
        "a = 1 NOT x",
        "a = 1 IS 5",
        "a = 1 !",
        "a = 1 /*",
    ] {
        assert!(Selector::parse(text).is_err(), "{text}");
    }
    // The same trailing lexing of ']' would fail the whole text.
    assert!(Selector::parse("TRUE ]").is_err());
}

// --- Limits ----------------------------------------------------------------------------------

#[test]
fn nesting_is_bounded() {
    let deep = |n: usize| format!("{}a = 1{}", "(".repeat(n), ")".repeat(n));
    assert!(parse(&deep(MAX_NESTING)).matches(&[("a", "1")]));
    let e = parse_err(&deep(MAX_NESTING + 1));
    assert_eq!(e.position, MAX_NESTING);
    let nots = |n: usize| format!("{}TRUE", "NOT ".repeat(n));
    assert!(parse(&nots(MAX_NESTING)).matches(NONE));
    assert!(!parse(&nots(MAX_NESTING - 1)).matches(NONE));
    assert!(Selector::parse(&nots(MAX_NESTING + 1)).is_err());
    assert!(Selector::parse(&format!("a = {}5", "-".repeat(10_000).replace("--", "- -"))).is_err());
    // Millions of parentheses fail fast, not by overflowing the stack.
    assert!(Selector::parse(&"(".repeat(60_000)).is_err());
    // A left-nested chain without parentheses is bounded by the tree height.
    let chain = format!("a = 1{}", " = TRUE".repeat(5_000));
    assert!(parse_err(&chain).message.contains("deep"));
    let chain = format!("a = 1{}", " = TRUE".repeat(100));
    assert!(parse(&chain).matches(&[("a", "1")]));
}

#[test]
fn long_and_or_chains_are_flat() {
    // Thousands of operands are fine: one AND/OR chain is one level.
    let or = (0..4_000)
        .map(|i| format!("a='{i}'"))
        .collect::<Vec<_>>()
        .join(" OR ");
    let s = parse(&or);
    assert!(s.matches(&[("a", "3999")]));
    assert!(!s.matches(&[("a", "4000")]));
    let and = vec!["a IS NOT NULL"; 3_000].join(" AND ");
    assert!(parse(&and).matches(&[("a", "x")]));
    let mixed = (0..2_000)
        .map(|i| format!("(a='{i}' AND b IS NULL)"))
        .collect::<Vec<_>>()
        .join(" OR ");
    assert!(parse(&mixed).matches(&[("a", "1999")]));
}

#[test]
fn text_length_is_bounded() {
    let pad = |n: usize| format!("TRUE{}", " ".repeat(n - 4));
    assert!(parse(&pad(MAX_TEXT_LEN)).matches(NONE));
    let e = parse_err(&pad(MAX_TEXT_LEN + 1));
    assert_eq!(e.position, MAX_TEXT_LEN);
    assert!(e.to_string().contains("bytes"));
}

// --- API ------------------------------------------------------------------------------------

#[test]
fn text_properties_and_display() {
    let s = parse("b = 1 AND a IN ('x') OR c CONTAINS 'y' AND b IS NULL OR $z BETWEEN a AND _q");
    assert_eq!(s.properties(), ["$z", "_q", "a", "b", "c"]);
    assert_eq!(
        s.text(),
        "b = 1 AND a IN ('x') OR c CONTAINS 'y' AND b IS NULL OR $z BETWEEN a AND _q"
    );
    assert_eq!(s.to_string(), s.text());
    assert!(parse("TRUE").properties().is_empty());
    let e = parse_err("a >");
    assert_eq!(
        e.to_string(),
        "SQL92 selector: expected a value (a property name, a literal or '(') after '>', \
         found the end of the text at byte 3"
    );
    let _: &dyn std::error::Error = &e;
}

#[test]
fn properties_sources_agree() {
    use std::collections::{BTreeMap, HashMap};
    let s = parse("region = 'east' AND a > 5 AND TAGS IN ('TagA', 'TagB')");
    let pairs = [("TAGS", "TagA"), ("region", "east"), ("a", "6")];
    let encoded = "TAGS\u{1}TagA\u{2}region\u{1}east\u{2}a\u{1}6\u{2}";
    let hash: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let btree: BTreeMap<String, String> = hash.clone().into_iter().collect();
    let owned: Vec<(String, String)> = hash.clone().into_iter().collect();
    assert!(s.matches(&pairs));
    assert!(s.matches(&pairs[..]));
    assert!(s.matches(&Encoded(encoded)));
    assert!(s.matches(&Encoded(encoded.trim_end_matches('\u{2}'))));
    assert!(s.matches(&hash));
    assert!(s.matches(&btree));
    assert!(s.matches(&owned[..]));
    assert!(!s.matches(&Encoded(
        "TAGS\u{1}TagA\u{2}region\u{1}east\u{2}a\u{1}5\u{2}"
    )));
    // The last of a repeated name wins in an encoded string, as in Java's decoder.
    assert!(s.matches(&Encoded(
        "a\u{1}1\u{2}a\u{1}6\u{2}TAGS\u{1}TagB\u{2}region\u{1}east"
    )));
}

#[test]
fn selectors_are_shareable() {
    fn assert_send_sync<T: Send + Sync + Clone>() {}
    assert_send_sync::<Selector>();
    let s = std::sync::Arc::new(parse("a = 1"));
    let t = std::thread::spawn({
        let s = s.clone();
        move || s.matches(&[("a", "1")])
    });
    assert!(t.join().unwrap());
}
