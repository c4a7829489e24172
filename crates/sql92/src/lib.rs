//! RocketMQ's SQL92 message selector ("property filter"): a consumer subscribes with a text such
//! as `a > 5 AND region = 'east'`, and the broker delivers only the messages whose properties
//! make it TRUE. This crate owns the language only: [`Selector::parse`] turns text into a
//! checked expression tree, [`Selector::matches`] evaluates it against one message's
//! [`Properties`]. It knows nothing of brokers, subscriptions or the wire.
//!
//! Everything here follows the Java filter module of Apache RocketMQ (`org.apache.rocketmq.filter`:
//! `SelectorParser.jj` and the generated parser, the `expression` classes) and the broker's
//! `MessageEvaluationContext`, including the quirks a consumer written against a Java broker
//! may rely on. Where the project's fact sheet (`rocketmq.md` §6.2) is vaguer or differs, the
//! Java source decided: property names are case-sensitive (only the keywords are not; "matched
//! case-insensitively" holds for the letters an identifier may use), a string that does not
//! convert to a number makes the evaluation fail rather than compare false, and a `--` comment
//! needs a line break to end it.
//!
//! ```
//! use courier_sql92::{Encoded, Selector};
//!
//! let s = Selector::parse("a > 5 AND region = 'east'")?;
//! assert!(s.matches(&[("a", "7"), ("region", "east")]));
//! assert!(!s.matches(&Encoded("a\u{1}7\u{2}region\u{1}west\u{2}")));
//! assert!(!s.matches(&[("region", "east")])); // `a` missing: NULL, not TRUE
//! assert_eq!(s.properties(), ["a", "region"]);
//! # Ok::<(), courier_sql92::ParseError>(())
//! ```
//!
//! # Grammar
//!
//! ```text
//! selector = or_expr ;                  (* text after a complete or_expr is ignored *)
//! or_expr  = and_expr { OR and_expr } ;
//! and_expr = eq_expr { AND eq_expr } ;
//! eq_expr  = cmp_expr { ( "=" | "<>" ) cmp_expr | IS [ NOT ] NULL } ;
//! cmp_expr = unary { ( ">" | ">=" | "<" | "<=" ) unary
//!                  | [ NOT ] ( CONTAINS | STARTSWITH | ENDSWITH ) string
//!                  | [ NOT ] BETWEEN unary AND unary
//!                  | [ NOT ] IN "(" string { "," string } ")" } ;
//! unary    = "+" unary | "-" unary | NOT unary | primary ;
//! primary  = string | decimal | float | TRUE | FALSE | NULL | identifier | "(" or_expr ")" ;
//!
//! identifier = [A-Za-z_$] [A-Za-z0-9_$]*      (a property name, case-sensitive; not a keyword)
//! decimal    = "0" | [1-9] [0-9]* [lL]        (a Java int if it fits, else a long)
//! float      = [0-9]+ "." [0-9]* [exp] | "." [0-9]+ [exp] | [0-9]+ exp ;  exp = [eE] [+-]? [0-9]+
//! string     = "'" { "''" | any character but "'" } "'"
//! ```
//!
//! Like Java's `JmsSelector`, parsing stops after one complete expression: the token after it
//! must be well-formed (it is read to see whether the expression goes on), the rest is never
//! read, so `a = 1 b = 2` means `a = 1` and `a = 1 )` parses.
//!
//! Keywords (`NOT AND OR BETWEEN IN TRUE FALSE NULL IS CONTAINS STARTSWITH ENDSWITH`) are
//! case-insensitive. Blanks are space, tab, CR, LF and form feed; `/* … */` comments and `--`
//! comments that a line break ends are skipped (a `--` with no line break after it is two
//! minus signs, as in the Java lexer). There is no arithmetic, no `LIKE`, no `!=`.
//!
//! Precedence is the Java grammar's, which is not SQL's: `NOT` is a prefix operator on a
//! single operand, so `NOT a = 1` means `(NOT a) = 1` (write `NOT (a = 1)`); then come the
//! ordering, `CONTAINS`/`BETWEEN`/`IN` forms, then `=`/`<>`/`IS NULL`, then `AND`, then `OR`,
//! all left-associative.
//!
//! # Evaluation
//!
//! * Three-valued logic: a missing property is NULL; comparisons with NULL are NULL (unknown);
//!   `AND`/`OR`/`NOT` follow SQL's tables, evaluating left to right and stopping at the first
//!   deciding operand. A message matches only when the whole selector is TRUE, so `a = 1` and
//!   `NOT (a = 1)` both miss a message without `a`, while `a IS NULL` and `a = 1 OR TRUE` match.
//! * Property values are strings (`MessageEvaluationContext`). Comparing one with a number
//!   converts it with the Java parser of the number's type: `Integer.valueOf` for a literal
//!   that fits an int, `Long.valueOf` for a larger one, `Double.valueOf` for a float literal.
//!   `>`, `>=`, `<`, `<=` between two strings convert both with `Double.valueOf`.
//!   Comparing a string with `TRUE`/`FALSE` uses `Boolean.valueOf`.
//! * A conversion that fails (`a > 5` with `a = 'abc'` or `a = '5.5'`) is an error, not FALSE:
//!   Java throws, the broker logs it and does not deliver. The error ends the whole evaluation,
//!   so it also sinks an `OR` whose other side is TRUE, unless that side came first.
//! * Java's asymmetries are kept: `x = y` is TRUE when both are NULL and FALSE (not NULL) when
//!   only `y` is; `CONTAINS`/`STARTSWITH`/`ENDSWITH` and their `NOT` forms are FALSE (not
//!   NULL) on a missing property and with an empty search string; a bare property used as a
//!   condition is NULL when missing and FALSE otherwise (a string is never Boolean TRUE).
//!
//! # Parse-time checks
//!
//! The Java parser rejects, and so does [`Selector::parse`]: a top-level expression that is
//! not a condition (`'abc'`, `5`), `AND`/`OR`/`NOT` on a literal string or number, ordering
//! comparisons and `BETWEEN` on a string/boolean/NULL literal or on a condition, `= NULL`,
//! `TRUE = <string or number literal>`, `BETWEEN` with literal bounds in decreasing order,
//! `IN` on anything but a property, integer literals beyond a Java long, float literals that
//! are infinite or round to zero. On top of Java, for a parser facing the network: texts
//! longer than [`MAX_TEXT_LEN`], nesting deeper than [`MAX_NESTING`] and trees higher than
//! four times that are errors, and nothing panics.
//!
//! Invariants: parsing does not recurse (its stack is on the heap); [`Selector::matches`] does
//! not allocate and recurses once per tree level at most, so within the checked height; a
//! [`Selector`] is immutable, `Send` and `Sync`.

mod ast;
mod eval;
mod java;
mod lexer;
mod parser;
mod properties;

use std::fmt;

pub use properties::{Encoded, Properties};

/// Longest selector text accepted, in bytes. Real selectors are a few hundred bytes; the bound
/// keeps a hostile subscription from costing the broker more than a bounded parse.
pub const MAX_TEXT_LEN: usize = 64 * 1024;

/// Deepest nesting accepted: parentheses and prefix operators (`NOT`, `-`, `+`) enclosing one
/// another. Separately, the compiled tree may be at most four times this high (the operands of
/// one `AND` or `OR` chain count as one level), which bounds chains such as `a = 1 = 1 = …`.
/// Java has no limit of its own but fails on a stack overflow.
pub const MAX_NESTING: usize = 128;

/// A compiled selector.
#[derive(Debug, Clone)]
pub struct Selector {
    text: String,
    root: ast::Expr,
    /// Sorted and deduplicated, for [`Selector::properties`].
    names: Vec<String>,
}

/// Why a text is not a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What is wrong, and the fix where there is an obvious one.
    pub message: String,
    /// Byte offset in the text where the problem was found.
    pub position: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "SQL92 selector: {} at byte {}",
            self.message, self.position
        )
    }
}

impl std::error::Error for ParseError {}

impl Selector {
    /// Compiles `text`, accepting and rejecting what RocketMQ's Java `SelectorParser` does
    /// (plus the size and nesting bounds).
    pub fn parse(text: &str) -> Result<Selector, ParseError> {
        let (root, mut names) = parser::parse(text)?;
        names.sort_unstable();
        names.dedup();
        Ok(Selector {
            text: text.to_string(),
            root,
            names: names.into_iter().map(str::to_string).collect(),
        })
    }

    /// True only when the selector evaluates to boolean TRUE for these properties: NULL
    /// (unknown), FALSE and a failed conversion all mean "do not deliver", as in RocketMQ's
    /// `BooleanExpression.matches` and the broker's `ExpressionMessageFilter`.
    pub fn matches(&self, props: &(impl Properties + ?Sized)) -> bool {
        eval::matches(&self.root, props)
    }

    /// The text it was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Names of the properties it reads (sorted, deduplicated), so a broker can tell which
    /// properties matter to it.
    pub fn properties(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
