//! The Java library behaviour the selector semantics lean on: `Integer.valueOf`,
//! `Long.valueOf`, `Double.valueOf` and `Boolean.valueOf` of a string, and `Double.compareTo`.
//! RocketMQ's `ComparisonExpression` converts property strings with exactly these, so which
//! strings convert (and which make the evaluation fail) is part of what a message matches.

use std::cmp::Ordering;

/// `Integer.valueOf(s)`: one optional sign, then decimal digits, no blanks, in range.
pub(crate) fn parse_int(s: &str) -> Option<i32> {
    i32::try_from(parse_integer(s)?).ok()
}

/// `Long.valueOf(s)`, with the syntax of [`parse_int`].
pub(crate) fn parse_long(s: &str) -> Option<i64> {
    i64::try_from(parse_integer(s)?).ok()
}

/// The first char of each run of ten decimal digits outside ASCII that Java's
/// `Character.digit(c, 10)` knows in the Basic Multilingual Plane (the same 36 in JDK 17 and
/// JDK 25). `Integer.parseInt` works on UTF-16 units, so digits beyond U+FFFF (surrogate
/// pairs) are not digits to it.
const DIGIT_ZEROS: [u32; 36] = [
    0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66,
    0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90,
    0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
];

/// `Character.digit(c, 10)`.
fn digit(c: char) -> Option<u32> {
    if let Some(d) = c.to_digit(10) {
        return Some(d);
    }
    let c = u32::from(c);
    let i = DIGIT_ZEROS.partition_point(|&z| z <= c).checked_sub(1)?;
    let d = c - DIGIT_ZEROS[i];
    (d < 10).then_some(d)
}

/// The digits-and-sign syntax shared by `Integer.parseInt` and `Long.parseLong`, as an
/// i128 wide enough for either range check.
fn parse_integer(s: &str) -> Option<i128> {
    if s.is_ascii() {
        // Rust's integer syntax is Java's for ASCII: one optional '+' or '-', then at least one
        // digit. Anything beyond an i64 is out of either range anyway.
        return s.parse::<i64>().ok().map(i128::from);
    }
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i128 = 0;
    for c in digits.chars() {
        v = v.checked_mul(10)?.checked_add(i128::from(digit(c)?))?;
    }
    Some(if negative { -v } else { v })
}

/// `Boolean.valueOf(s)`: TRUE only for "true" in any case, FALSE for everything else.
pub(crate) fn parse_bool(s: &str) -> bool {
    s.eq_ignore_ascii_case("true")
}

/// `Double.valueOf(s)` (`FloatingDecimal.readJavaFormatString`): blanks (any char up to
/// U+0020) trimmed at both ends, an optional sign, then `NaN`, `Infinity`, a hexadecimal
/// float (`0x1.8p3`) or a decimal one (`1`, `1.`, `.5`, `1e-3`), the last two optionally
/// followed by one of `fFdD`.
pub(crate) fn parse_double(s: &str) -> Option<f64> {
    let s = s.trim_matches(|c: char| c <= ' ');
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let magnitude = match body {
        "NaN" => f64::NAN,
        "Infinity" => f64::INFINITY,
        _ => {
            let body = match body.as_bytes().last()? {
                b'f' | b'F' | b'd' | b'D' => &body[..body.len() - 1],
                _ => body,
            };
            if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
                parse_hex(hex)?
            } else if is_decimal_float(body) {
                // The syntax is checked above; Rust's conversion is correctly rounded, as Java's.
                body.parse().ok()?
            } else {
                return None;
            }
        }
    };
    Some(if negative { -magnitude } else { magnitude })
}

/// `digits [. digits] [exp] | . digits [exp]` with at least one digit, ASCII only.
fn is_decimal_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let mut digits = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

/// The part of a Java hexadecimal float after `0x`: `hex+ [.] | hex* . hex+`, then a mandatory
/// binary exponent `p [+-] digits`. Rounded to nearest, ties to even, like Java.
fn parse_hex(s: &str) -> Option<f64> {
    let (mantissa, exponent) = s.split_once(['p', 'P'])?;
    let exponent = parse_exponent(exponent)?;
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    // The first 16 significant hex digits fit a u64; the rest only matter as a sticky bit.
    let mut m: u64 = 0;
    let mut kept = 0u32;
    let mut sticky = false;
    // Binary exponent of the last bit of `m`.
    let mut e2: i64 = exponent;
    for (i, c) in int_part.bytes().chain(frac_part.bytes()).enumerate() {
        let d = (c as char).to_digit(16)? as u64;
        let fractional = i >= int_part.len();
        if fractional {
            e2 -= 4;
        }
        if kept == 0 && d == 0 {
            continue;
        }
        if kept < 16 {
            m = (m << 4) | d;
            kept += 1;
        } else {
            sticky |= d != 0;
            e2 += 4;
        }
    }
    Some(compose(m, e2, sticky))
}

/// Java accepts any number of exponent digits; past a few million the result is 0 or
/// infinity anyway, so the value saturates there.
fn parse_exponent(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: i64 = 0;
    for b in digits.bytes() {
        v = (v * 10 + i64::from(b - b'0')).min(10_000_000);
    }
    Some(if negative { -v } else { v })
}

/// `m * 2^e2` (plus a little more when `sticky`) as the nearest f64, ties to even.
fn compose(m: u64, e2: i64, sticky: bool) -> f64 {
    if m == 0 {
        return 0.0;
    }
    let lz = m.leading_zeros();
    let m = m << lz;
    // Now the value is 1.xxx * 2^exp with the leading 1 at bit 63.
    let exp = e2 + 63 - i64::from(lz);
    if exp > 1023 {
        return f64::INFINITY;
    }
    // Bits of `m` below the 53 a double keeps (more for a subnormal result).
    let shift = if exp >= -1022 { 11 } else { 11 + (-1022 - exp) };
    if shift > 64 {
        return 0.0;
    }
    let wide = u128::from(m);
    let mut q = (wide >> shift) as u64;
    let rest = wide & ((1u128 << shift) - 1);
    let half = 1u128 << (shift - 1);
    if rest > half || (rest == half && (sticky || q & 1 == 1)) {
        q += 1;
    }
    if exp >= -1022 {
        // q is in [2^52, 2^53]; 2^53 means the rounding carried into the next binade.
        let (q, exp) = if q == 1 << 53 {
            (q >> 1, exp + 1)
        } else {
            (q, exp)
        };
        if exp > 1023 {
            return f64::INFINITY;
        }
        f64::from_bits((((exp + 1023) as u64) << 52) | (q & ((1 << 52) - 1)))
    } else {
        // Subnormal: q < 2^52, or exactly 2^52 when rounding reached the smallest normal,
        // whose bit pattern is the same number.
        f64::from_bits(q)
    }
}

/// `Double.compareTo`: numeric order, except that -0.0 is below 0.0 and NaN equals itself and
/// is above everything, including infinity.
pub(crate) fn compare_double(a: f64, b: f64) -> Ordering {
    if a < b {
        Ordering::Less
    } else if a > b {
        Ordering::Greater
    } else {
        java_bits(a).cmp(&java_bits(b))
    }
}

/// `Double.doubleToLongBits`: every NaN has one pattern.
fn java_bits(d: f64) -> i64 {
    if d.is_nan() {
        0x7ff8_0000_0000_0000
    } else {
        d.to_bits() as i64
    }
}

/// `String.compareTo`: lexicographic over UTF-16 code units (which orders characters above
/// U+FFFF below U+E000..U+FFFF, unlike Rust's byte order).
pub(crate) fn compare_strings(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    a.encode_utf16().cmp(b.encode_utf16())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_and_long_syntax() {
        assert_eq!(parse_int("5"), Some(5));
        assert_eq!(parse_int("+5"), Some(5));
        assert_eq!(parse_int("-05"), Some(-5));
        assert_eq!(parse_int("-2147483648"), Some(i32::MIN));
        assert_eq!(parse_int("2147483648"), None);
        for bad in [
            "", "+", "-", " 5", "5 ", "5.0", "1e3", "0x10", "+-1", "-٣-", "é", "٣a",
        ] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
        // Character.digit: Arabic-Indic and fullwidth digits are digits to Java...
        assert_eq!(parse_int("٣"), Some(3));
        assert_eq!(parse_int("-\u{ff11}\u{ff12}"), Some(-12));
        assert_eq!(parse_long("+1\u{0967}"), Some(11));
        // ...but not the mathematical digits beyond U+FFFF, nor ones next to a run of ten.
        assert_eq!(parse_int("\u{1d7ce}"), None);
        assert_eq!(parse_int("\u{ff1a}"), None);
        assert_eq!(parse_int("\u{065f}"), None);
        assert_eq!(parse_long("2147483648"), Some(2_147_483_648));
        assert_eq!(parse_long("9223372036854775808"), None);
    }

    #[test]
    fn bool_syntax() {
        assert!(parse_bool("true") && parse_bool("TRUE") && parse_bool("tRuE"));
        assert!(!parse_bool("yes") && !parse_bool("1") && !parse_bool(" true"));
    }

    #[test]
    fn double_syntax_is_javas() {
        let ok = [
            ("1", 1.0),
            ("1.", 1.0),
            (".5", 0.5),
            ("-.5e1", -5.0),
            ("+1E+2", 100.0),
            ("  7\t\n", 7.0),
            ("\u{0}7\u{1f}", 7.0),
            ("1.5f", 1.5),
            ("1.5D", 1.5),
            ("2e-1d", 0.2),
            ("007.50", 7.5),
            ("Infinity", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("1e400", f64::INFINITY),
            ("1e-400", 0.0),
            ("0x1p3", 8.0),
            ("0X1.8P1", 3.0),
            ("0x.8p1", 1.0),
            ("0x10.p0", 16.0),
            ("-0x1p-2f", -0.25),
        ];
        for (s, v) in ok {
            assert_eq!(parse_double(s), Some(v), "{s:?}");
        }
        assert!(parse_double("NaN").unwrap().is_nan());
        assert!(parse_double("-NaN").unwrap().is_nan());
        assert!(parse_double("-0").unwrap().is_sign_negative());
        let bad = [
            "",
            " ",
            ".",
            "e5",
            "1e",
            "1e+",
            "1.2.3",
            "1..",
            "nan",
            "inf",
            "infinity",
            "NaNf",
            "Infinityd",
            "1f5",
            "1 5",
            "0x",
            "0x1",
            "0xp1",
            "0x.p1",
            "0x1.8",
            "0x1pf",
            "1ff",
            "١",
            "--1",
            "+-1",
            "1_000",
            "0x1g0p1",
        ];
        for s in bad {
            assert_eq!(parse_double(s), None, "{s:?}");
        }
    }

    #[test]
    fn hex_floats_round_like_java() {
        // Values checked against Java's Double.valueOf.
        assert_eq!(parse_double("0x1p-1074"), Some(f64::from_bits(1)));
        assert_eq!(
            parse_double("0x1p-1075"),
            Some(0.0),
            "a tie rounds to even (zero)"
        );
        assert_eq!(parse_double("0x1.8p-1075"), Some(f64::from_bits(1)));
        assert_eq!(parse_double("0x1.fffffffffffffp1023"), Some(f64::MAX));
        assert_eq!(parse_double("0x1.fffffffffffff8p1023"), Some(f64::INFINITY));
        assert_eq!(parse_double("0x1p1024"), Some(f64::INFINITY));
        assert_eq!(
            parse_double("0x1.00000000000008p0"),
            Some(1.0),
            "tie to even"
        );
        assert_eq!(
            parse_double("0x1.000000000000080000000001p0"),
            Some(1.0 + f64::EPSILON),
            "a sticky bit past 16 digits breaks the tie"
        );
        assert_eq!(
            parse_double("0x1.00000000000018p0"),
            Some(1.0 + 2.0 * f64::EPSILON),
            "tie to even, upwards"
        );
        assert_eq!(
            parse_double("0x0.0000000000001p-1022"),
            Some(f64::from_bits(1))
        );
        assert_eq!(
            parse_double("0x1.ffffffffffffffp-1023"),
            Some(f64::MIN_POSITIVE),
            "a subnormal that rounds up to the smallest normal"
        );
        assert_eq!(parse_double("0x000000000000000000001p0"), Some(1.0));
        assert_eq!(
            parse_double("0x1p99999999999999999999"),
            Some(f64::INFINITY)
        );
    }

    #[test]
    fn double_order_is_javas() {
        assert_eq!(compare_double(-0.0, 0.0), Ordering::Less);
        assert_eq!(compare_double(f64::NAN, f64::INFINITY), Ordering::Greater);
        assert_eq!(compare_double(f64::NAN, -f64::NAN), Ordering::Equal);
        assert_eq!(compare_double(1.0, 2.0), Ordering::Less);
        assert_eq!(compare_double(2.0, 2.0), Ordering::Equal);
    }

    #[test]
    fn string_order_is_utf16() {
        assert_eq!(compare_strings("a", "b"), Ordering::Less);
        assert_eq!(compare_strings("\u{10000}", "\u{e000}"), Ordering::Less);
        assert_eq!("\u{10000}".cmp("\u{e000}"), Ordering::Greater);
    }
}
