//! Parser for the grammar of RocketMQ's `SelectorParser.jj`, with the checks its expression
//! factories make while building the tree (`ComparisonExpression.create*`,
//! `ConstantExpression.createFromDecimal`/`createFloat`, `asBooleanExpression`): whatever those
//! throw makes the Java broker refuse the subscription, so here it is a [`ParseError`].
//!
//! It is the Java grammar's recursive descent with the recursion moved onto a heap stack of
//! continuations ([`Cont`]): one "function" per grammar rule, each "call" pushing where to
//! resume. The machine stack then stays flat however deep the text nests (an unoptimised build
//! needed some 14 KiB of it per parenthesis with plain recursion). Each rule loops and peeks
//! exactly as the Java one does; that is what makes the same texts parse, and the same trailing
//! text be ignored (`JmsSelector` does not require the end of input).

use crate::ast::{Const, Expr, OrderOp, TextOp};
use crate::java;
use crate::lexer::{clip, describe, unescape, Kw, Lexer, Tok, Token};
use crate::{ParseError, MAX_NESTING, MAX_TEXT_LEN};

/// Highest tree accepted. Nesting alone does not bound it (`a = 1 = 1 = …` grows one level per
/// operator without any parentheses), and evaluation recurses once per level.
const MAX_HEIGHT: usize = 4 * MAX_NESTING;

/// Parses `text` into its tree and the property names it mentions (unsorted, repeated).
pub(crate) fn parse(text: &str) -> Result<(Expr, Vec<&str>), ParseError> {
    if text.len() > MAX_TEXT_LEN {
        return Err(ParseError {
            message: format!(
                "the selector is {} bytes long; at most {MAX_TEXT_LEN} are accepted",
                text.len()
            ),
            position: MAX_TEXT_LEN,
        });
    }
    let mut p = Parser {
        text,
        lexer: Lexer::new(text),
        peeked: None,
        last: None,
        before_last: None,
        nesting: 0,
        names: Vec::new(),
    };
    let root = p.run()?;
    let root = p.as_condition(root)?;
    Ok((root.expr, p.names))
}

/// A subtree with what the checks and messages need: the height of the tree (bounded so that
/// evaluating and dropping it cannot exhaust the stack) and where its text starts.
struct Node {
    expr: Expr,
    height: usize,
    start: usize,
}

struct Parser<'s> {
    text: &'s str,
    lexer: Lexer<'s>,
    peeked: Option<Token<'s>>,
    /// The last two tokens consumed, for "after '>'" in messages.
    last: Option<Token<'s>>,
    before_last: Option<Token<'s>>,
    /// Parentheses and prefix operators currently open.
    nesting: usize,
    names: Vec<&'s str>,
}

fn err(message: impl Into<String>, position: usize) -> ParseError {
    ParseError {
        message: message.into(),
        position,
    }
}

impl<'s> Parser<'s> {
    fn peek(&mut self) -> Result<Token<'s>, ParseError> {
        if let Some(t) = self.peeked {
            return Ok(t);
        }
        let t = self.lexer.next_token()?;
        self.peeked = Some(t);
        Ok(t)
    }

    fn bump(&mut self) -> Result<Token<'s>, ParseError> {
        let t = self.peek()?;
        self.peeked = None;
        self.before_last = self.last.replace(t);
        Ok(t)
    }

    fn expect(&mut self, tok: Tok<'static>, wanted: &'static str) -> Result<Token<'s>, ParseError> {
        let t = self.bump()?;
        if t.tok == tok {
            Ok(t)
        } else {
            Err(self.unexpected(t, wanted))
        }
    }

    fn text_of(&self, t: &Token<'_>) -> &'s str {
        &self.text[t.start..t.end]
    }

    // Error messages are built in cold, out-of-line functions: errors are the rare path, and
    // the formatting would otherwise weigh on every function that can fail.

    #[cold]
    #[inline(never)]
    fn unexpected(&self, t: Token<'s>, wanted: &str) -> ParseError {
        // `t` itself is usually the token just consumed; the context is the one before it.
        let previous = match self.last {
            Some(l) if l.start == t.start && l.end == t.end => self.before_last,
            other => other,
        };
        let after = match previous {
            Some(p) => format!(" after '{}'", clip(self.text_of(&p))),
            None => String::new(),
        };
        err(
            format!(
                "expected {wanted}{after}, found {}",
                describe(&t.tok, self.text_of(&t))
            ),
            t.start,
        )
    }

    fn node(&self, expr: Expr, height: usize, start: usize) -> Result<Node, ParseError> {
        if height > MAX_HEIGHT {
            return Err(too_high(start));
        }
        Ok(Node {
            expr,
            height,
            start,
        })
    }

    fn enter(&mut self, at: usize) -> Result<(), ParseError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(too_nested(at));
        }
        Ok(())
    }

    /// Runs the grammar from `orExpression` to its end.
    fn run(&mut self) -> Result<Node, ParseError> {
        let mut stack = Vec::new();
        let mut step = Step::Call(Rule::Or);
        loop {
            step = match step {
                Step::Call(rule) => self.call(rule, &mut stack)?,
                Step::Return(value) => match stack.pop() {
                    None => return Ok(value),
                    Some(cont) => self.resume(cont, value, &mut stack)?,
                },
            };
        }
    }

    /// Starts `rule`.
    fn call(&mut self, rule: Rule, stack: &mut Vec<Cont<'s>>) -> Result<Step, ParseError> {
        Ok(match rule {
            Rule::Or => {
                stack.push(Cont::Or(Chain::default()));
                Step::Call(Rule::And)
            }
            Rule::And => {
                stack.push(Cont::And(Chain::default()));
                Step::Call(Rule::Equality)
            }
            Rule::Equality => {
                stack.push(Cont::EqualityFirst);
                Step::Call(Rule::Comparison)
            }
            Rule::Comparison => {
                stack.push(Cont::ComparisonFirst);
                Step::Call(Rule::Unary)
            }
            // unaryExpr, and primaryExpr after it.
            Rule::Unary => {
                let t = self.peek()?;
                match t.tok {
                    Tok::Plus | Tok::Minus | Tok::Kw(Kw::Not) => {
                        self.bump()?;
                        self.enter(t.start)?;
                        stack.push(Cont::Prefix(t));
                        Step::Call(Rule::Unary)
                    }
                    Tok::LParen => {
                        self.bump()?;
                        self.enter(t.start)?;
                        stack.push(Cont::Paren(t));
                        Step::Call(Rule::Or)
                    }
                    _ => Step::Return(self.leaf()?),
                }
            }
        })
    }

    /// Goes on with `cont` now that the rule it called returned `v`.
    fn resume(
        &mut self,
        cont: Cont<'s>,
        v: Node,
        stack: &mut Vec<Cont<'s>>,
    ) -> Result<Step, ParseError> {
        match cont {
            // orExpression / andExpression: `operand { OR|AND operand }`, both sides
            // conditions (`LogicExpression.createOR/createAND`), one flat node per chain; a
            // lone operand is returned as it is.
            Cont::Or(chain) => self.chain(chain, v, Kw::Or, stack),
            Cont::And(chain) => self.chain(chain, v, Kw::And, stack),
            Cont::EqualityFirst => self.equality_loop(v, stack),
            Cont::EqualityRight(left, op) => {
                let eq = self.equal(left, v, op)?;
                self.equality_loop(eq, stack)
            }
            Cont::ComparisonFirst => self.comparison_loop(v, stack),
            Cont::Order(left, op, t) => {
                self.orderable(&left, t)?;
                self.orderable(&v, t)?;
                let height = left.height.max(v.height) + 1;
                let start = left.start;
                let expr = Expr::Order(op, Box::new(left.expr), Box::new(v.expr));
                let n = self.node(expr, height, start)?;
                self.comparison_loop(n, stack)
            }
            Cont::BetweenLow(value, negated, kw) => {
                let and = self.expect(Tok::Kw(Kw::And), "AND (as in `x BETWEEN 1 AND 5`)")?;
                stack.push(Cont::BetweenHigh(value, v, negated, kw, and));
                Ok(Step::Call(Rule::Unary))
            }
            Cont::BetweenHigh(value, low, negated, kw, and) => {
                let n = self.between(value, low, v, negated, kw, and)?;
                self.comparison_loop(n, stack)
            }
            Cont::Prefix(t) => {
                self.nesting -= 1;
                let height = v.height + 1;
                Ok(Step::Return(match t.tok {
                    // Java's unary plus returns its operand itself.
                    Tok::Plus => v,
                    Tok::Minus => self.node(Expr::Negate(Box::new(v.expr)), height, t.start)?,
                    _ => {
                        let operand = self.as_condition(v)?;
                        self.node(Expr::Not(Box::new(operand.expr)), height, t.start)?
                    }
                }))
            }
            Cont::Paren(t) => {
                self.expect(Tok::RParen, "')' to close the '(' opened earlier")?;
                self.nesting -= 1;
                // Parentheses leave no node, as in Java; the start moves to include them.
                Ok(Step::Return(Node {
                    start: t.start,
                    ..v
                }))
            }
        }
    }

    fn chain(
        &mut self,
        mut chain: Chain,
        v: Node,
        kw: Kw,
        stack: &mut Vec<Cont<'s>>,
    ) -> Result<Step, ParseError> {
        let more = self.peek()?.tok == Tok::Kw(kw);
        if chain.items.is_empty() && !more {
            return Ok(Step::Return(v));
        }
        chain.push(self.as_condition(v)?, kw);
        if more {
            self.bump()?;
            let (cont, next) = match kw {
                Kw::Or => (Cont::Or(chain), Rule::And),
                _ => (Cont::And(chain), Rule::Equality),
            };
            stack.push(cont);
            return Ok(Step::Call(next));
        }
        let items = chain.items;
        let expr = if kw == Kw::Or {
            Expr::Or(items)
        } else {
            Expr::And(items)
        };
        Ok(Step::Return(self.node(
            expr,
            chain.height + 1,
            chain.start.unwrap_or(0),
        )?))
    }

    /// equalityExpression's loop, `left` being the latest comparison expression:
    /// `{ (= | <>) comparison | IS [NOT] NULL }`.
    fn equality_loop(
        &mut self,
        mut left: Node,
        stack: &mut Vec<Cont<'s>>,
    ) -> Result<Step, ParseError> {
        loop {
            let t = self.peek()?;
            match t.tok {
                Tok::Eq | Tok::Ne => {
                    self.bump()?;
                    stack.push(Cont::EqualityRight(left, t));
                    return Ok(Step::Call(Rule::Comparison));
                }
                Tok::Kw(Kw::Is) => {
                    self.bump()?;
                    let next = self.bump()?;
                    let negated = match next.tok {
                        Tok::Kw(Kw::Null) => false,
                        Tok::Kw(Kw::Not) => {
                            self.expect(Tok::Kw(Kw::Null), "NULL")?;
                            true
                        }
                        _ => return Err(self.unexpected(next, "NULL or NOT NULL")),
                    };
                    let (height, start) = (left.height + 1, left.start);
                    left = self.node(Expr::IsNull(Box::new(left.expr), negated), height, start)?;
                }
                _ => return Ok(Step::Return(left)),
            }
        }
    }

    /// comparisonExpression's loop, `left` being the latest operand: ordering operators,
    /// `[NOT] CONTAINS|STARTSWITH|ENDSWITH 'x'`, `[NOT] BETWEEN a AND b`, `[NOT] IN (...)`.
    fn comparison_loop(
        &mut self,
        mut left: Node,
        stack: &mut Vec<Cont<'s>>,
    ) -> Result<Step, ParseError> {
        loop {
            let t = self.peek()?;
            let op = match t.tok {
                Tok::Gt => Some(OrderOp::Gt),
                Tok::Ge => Some(OrderOp::Ge),
                Tok::Lt => Some(OrderOp::Lt),
                Tok::Le => Some(OrderOp::Le),
                _ => None,
            };
            if let Some(op) = op {
                self.bump()?;
                stack.push(Cont::Order(left, op, t));
                return Ok(Step::Call(Rule::Unary));
            }
            let negated = match t.tok {
                Tok::Kw(Kw::Contains | Kw::StartsWith | Kw::EndsWith | Kw::Between | Kw::In) => {
                    false
                }
                // After an operand, NOT can only start one of the NOT forms.
                Tok::Kw(Kw::Not) => {
                    self.bump()?;
                    true
                }
                _ => return Ok(Step::Return(left)),
            };
            let kw = self.bump()?;
            left = match kw.tok {
                Tok::Kw(Kw::Contains) => self.text_op(left, TextOp::Contains, negated)?,
                Tok::Kw(Kw::StartsWith) => self.text_op(left, TextOp::StartsWith, negated)?,
                Tok::Kw(Kw::EndsWith) => self.text_op(left, TextOp::EndsWith, negated)?,
                Tok::Kw(Kw::In) => self.in_list(left, negated, kw)?,
                Tok::Kw(Kw::Between) => {
                    stack.push(Cont::BetweenLow(left, negated, kw));
                    return Ok(Step::Call(Rule::Unary));
                }
                _ => {
                    return Err(self.unexpected(kw, "CONTAINS, STARTSWITH, ENDSWITH, BETWEEN or IN"))
                }
            };
        }
    }

    /// `ComparisonExpression.createEqual` (and `createNotEqual`, its negation): neither side
    /// the NULL literal, and a TRUE/FALSE literal on the left only against another boolean
    /// literal.
    fn equal(&self, left: Node, right: Node, op: Token<'s>) -> Result<Node, ParseError> {
        for side in [&left, &right] {
            if matches!(side.expr, Expr::Const(Const::Null)) {
                return Err(null_compared(self.text_of(&op), side.start));
            }
        }
        if let (Expr::Const(Const::Bool(_)), Expr::Const(r)) = (&left.expr, &right.expr) {
            if !matches!(r, Const::Bool(_)) {
                return Err(bool_compared(r, left.start));
            }
        }
        let height = left.height.max(right.height) + 1;
        let start = left.start;
        let eq = Expr::Equal(Box::new(left.expr), Box::new(right.expr));
        if op.tok == Tok::Ne {
            self.node(Expr::Not(Box::new(eq)), height + 1, start)
        } else {
            self.node(eq, height, start)
        }
    }

    /// `ComparisonExpression.checkLessThanOperand`: a literal must be a number, and a
    /// condition cannot be ordered. Properties and unary minus pass (and are checked when
    /// evaluated).
    fn orderable(&self, n: &Node, op: Token<'s>) -> Result<(), ParseError> {
        match &n.expr {
            Expr::Const(Const::Int(_) | Const::Long(_) | Const::Double(_)) => Ok(()),
            e if matches!(e, Expr::Const(_)) || e.is_boolean() => {
                Err(not_orderable(&n.expr, self.text_of(&op), n.start))
            }
            _ => Ok(()),
        }
    }

    fn string_literal(&mut self, wanted: &'static str) -> Result<Box<str>, ParseError> {
        let t = self.bump()?;
        match t.tok {
            Tok::Str(raw) => Ok(unescape(raw)),
            _ => Err(self.unexpected(t, wanted)),
        }
    }

    fn text_op(&mut self, left: Node, op: TextOp, negated: bool) -> Result<Node, ParseError> {
        let needle = self.string_literal("a string literal ('...')")?;
        let height = left.height + 1;
        let start = left.start;
        let operand = Box::new(left.expr);
        self.node(
            Expr::Text {
                op,
                negated,
                operand,
                needle,
            },
            height,
            start,
        )
    }

    /// `ComparisonExpression.createBetween` / `createNotBetween`.
    fn between(
        &self,
        value: Node,
        low: Node,
        high: Node,
        negated: bool,
        kw: Token<'s>,
        and: Token<'s>,
    ) -> Result<Node, ParseError> {
        // Java checks the bounds only when both are literals (so `-5`, a negation, is not
        // checked) and only for BETWEEN, not NOT BETWEEN.
        if let (false, Expr::Const(lo), Expr::Const(hi)) = (negated, &low.expr, &high.expr) {
            if matches!(lo, Const::Null) || matches!(hi, Const::Null) {
                return Err(err("the bounds of BETWEEN cannot be NULL", low.start));
            }
            if let (Some(l), Some(h)) = (number(lo), number(hi)) {
                if crate::eval::compare_numbers(h, l).is_lt() {
                    let hi_end = self.last.map_or(high.start, |t| t.end);
                    return Err(reversed_bounds(
                        &self.text[low.start..and.start],
                        &self.text[high.start..hi_end],
                        low.start,
                    ));
                }
            }
        }
        for n in [&value, &low, &high] {
            self.orderable(n, kw)?;
        }
        let height = value.height.max(low.height).max(high.height) + 1;
        let start = value.start;
        let expr = Expr::Between {
            value: Box::new(value.expr),
            low: Box::new(low.expr),
            high: Box::new(high.expr),
            negated,
        };
        self.node(expr, height, start)
    }

    /// `ComparisonExpression.createInFilter`: a property on the left, string literals only.
    fn in_list(&mut self, left: Node, negated: bool, kw: Token<'s>) -> Result<Node, ParseError> {
        const ITEM: &str = "a string literal ('...'; IN lists hold strings only)";
        self.expect(Tok::LParen, "'(' (as in `x IN ('a', 'b')`)")?;
        let mut list = vec![self.string_literal(ITEM)?];
        loop {
            let t = self.bump()?;
            match t.tok {
                Tok::Comma => list.push(self.string_literal(ITEM)?),
                Tok::RParen => break,
                _ => return Err(self.unexpected(t, "',' or ')'")),
            }
        }
        let Expr::Prop(name) = left.expr else {
            return Err(in_needs_property(self.text_of(&kw), left.start));
        };
        list.sort_unstable();
        list.dedup();
        let expr = Expr::In {
            name,
            list: list.into_boxed_slice(),
            negated,
        };
        self.node(expr, left.height + 1, left.start)
    }

    /// primaryExpr's literals and properties (its parenthesis is handled by `Rule::Unary`).
    fn leaf(&mut self) -> Result<Node, ParseError> {
        let t = self.bump()?;
        let expr = match t.tok {
            Tok::Str(raw) => Expr::Const(Const::Str(unescape(raw))),
            Tok::Decimal(digits) => Expr::Const(decimal(digits, t.start)?),
            Tok::Float(text) => Expr::Const(float(text, t.start)?),
            Tok::Kw(Kw::True) => Expr::Const(Const::Bool(true)),
            Tok::Kw(Kw::False) => Expr::Const(Const::Bool(false)),
            Tok::Kw(Kw::Null) => Expr::Const(Const::Null),
            Tok::Id(name) => {
                self.names.push(name);
                Expr::Prop(name.into())
            }
            _ => return Err(self.unexpected(t, "a value (a property name, a literal or '(')")),
        };
        Ok(Node {
            expr,
            height: 1,
            start: t.start,
        })
    }

    /// `asBooleanExpression`: a condition stays, a bare property becomes a boolean cast,
    /// anything else (a string or number literal, a negation) is refused.
    fn as_condition(&self, n: Node) -> Result<Node, ParseError> {
        match n.expr {
            e if e.is_boolean() => Ok(Node { expr: e, ..n }),
            Expr::Prop(name) => Ok(Node {
                expr: Expr::BoolCast(name),
                ..n
            }),
            e => Err(not_a_condition(&e, n.start)),
        }
    }
}

/// A grammar rule the machine can call.
#[derive(Debug, Clone, Copy)]
enum Rule {
    Or,
    And,
    Equality,
    Comparison,
    Unary,
}

/// What the machine does next: start a rule, or hand a finished node to the innermost
/// continuation.
enum Step {
    Call(Rule),
    Return(Node),
}

/// Where a rule resumes when the rule it called returns (what the Java parser keeps in its
/// stack frames).
enum Cont<'s> {
    /// orExpression: the operands so far; awaiting an andExpression.
    Or(Chain),
    /// andExpression: the operands so far; awaiting an equalityExpression.
    And(Chain),
    /// equalityExpression: awaiting its first comparisonExpression.
    EqualityFirst,
    /// equalityExpression: awaiting the right side of this `=` or `<>`.
    EqualityRight(Node, Token<'s>),
    /// comparisonExpression: awaiting its first unaryExpr.
    ComparisonFirst,
    /// comparisonExpression: awaiting the right side of this ordering operator.
    Order(Node, OrderOp, Token<'s>),
    /// `value [NOT] BETWEEN` awaiting the low bound, then the high one (after `AND`).
    BetweenLow(Node, bool, Token<'s>),
    BetweenHigh(Node, Node, bool, Token<'s>, Token<'s>),
    /// unaryExpr: awaiting the operand of this `+`, `-` or `NOT`.
    Prefix(Token<'s>),
    /// primaryExpr: awaiting the orExpression inside this parenthesis.
    Paren(Token<'s>),
}

/// The operands of one `AND` or `OR` chain being collected.
#[derive(Default)]
struct Chain {
    items: Vec<Expr>,
    height: usize,
    start: Option<usize>,
}

impl Chain {
    fn push(&mut self, n: Node, kw: Kw) {
        self.height = self.height.max(n.height);
        self.start.get_or_insert(n.start);
        match n.expr {
            Expr::And(v) if kw == Kw::And => self.items.extend(v),
            Expr::Or(v) if kw == Kw::Or => self.items.extend(v),
            e => self.items.push(e),
        }
    }
}

#[cold]
#[inline(never)]
fn too_high(at: usize) -> ParseError {
    err(
        format!("the expression nests more than {MAX_HEIGHT} operators deep; simplify it"),
        at,
    )
}

#[cold]
#[inline(never)]
fn too_nested(at: usize) -> ParseError {
    err(
        format!("more than {MAX_NESTING} nested parentheses and prefix operators; simplify the selector"),
        at,
    )
}

#[cold]
#[inline(never)]
fn null_compared(op: &str, at: usize) -> ParseError {
    err(
        format!("NULL cannot be compared with '{op}'; write `x IS NULL` or `x IS NOT NULL`"),
        at,
    )
}

#[cold]
#[inline(never)]
fn bool_compared(right: &Const, at: usize) -> ParseError {
    err(
        format!(
            "a TRUE/FALSE literal cannot be compared with a {} literal",
            kind_of(right)
        ),
        at,
    )
}

#[cold]
#[inline(never)]
fn not_orderable(e: &Expr, op: &str, at: usize) -> ParseError {
    let what = match e {
        Expr::Const(c) => format!("a {} literal", kind_of(c)),
        _ => "the result of a condition".to_string(),
    };
    err(
        format!("'{op}' compares numbers, not {what}; strings can only be compared with = and <>"),
        at,
    )
}

#[cold]
#[inline(never)]
fn reversed_bounds(low: &str, high: &str, at: usize) -> ParseError {
    err(
        format!(
            "BETWEEN needs its lower bound first: write `BETWEEN {} AND {}`",
            clip(high.trim()),
            clip(low.trim())
        ),
        at,
    )
}

#[cold]
#[inline(never)]
fn in_needs_property(kw: &str, at: usize) -> ParseError {
    err(
        format!(
            "{} tests a property, as in `x IN ('a', 'b')`",
            clip(&kw.to_ascii_uppercase())
        ),
        at,
    )
}

#[cold]
#[inline(never)]
fn not_a_condition(e: &Expr, at: usize) -> ParseError {
    let message = match e {
        Expr::Const(c @ Const::Str(_)) => format!(
            "a {} literal is not a condition; compare it, e.g. `x = '...'`",
            kind_of(c)
        ),
        Expr::Const(c) => format!(
            "a {} literal is not a condition; compare it, e.g. `x = 5`",
            kind_of(c)
        ),
        _ => "a negated value is not a condition; compare it, e.g. `-x < 5`".to_string(),
    };
    err(message, at)
}

fn kind_of(c: &Const) -> &'static str {
    match c {
        Const::Null => "NULL",
        Const::Bool(_) => "TRUE/FALSE",
        Const::Int(_) | Const::Long(_) | Const::Double(_) => "number",
        Const::Str(_) => "string",
    }
}

fn number(c: &Const) -> Option<crate::eval::Num> {
    use crate::eval::Num;
    match *c {
        Const::Int(i) => Some(Num::Int(i)),
        Const::Long(l) => Some(Num::Long(l)),
        Const::Double(d) => Some(Num::Double(d)),
        _ => None,
    }
}

/// `ConstantExpression.createFromDecimal`: a Java long (the `L` means nothing), narrowed to an
/// int when it fits.
fn decimal(text: &str, at: usize) -> Result<Const, ParseError> {
    let digits = text.trim_end_matches(['l', 'L']);
    match java::parse_long(digits) {
        Some(v) => Ok(i32::try_from(v).map_or(Const::Long(v), Const::Int)),
        None => Err(err(
            format!(
                "the integer {} does not fit a 64-bit signed integer (Java long); \
                 write a float (e.g. 1.0E20) to compare approximately",
                clip(digits)
            ),
            at,
        )),
    }
}

/// `ConstantExpression.createFloat`: a double that is finite and, because Java compares it
/// with `Double.MIN_VALUE` (the smallest positive double), not zero.
fn float(text: &str, at: usize) -> Result<Const, ParseError> {
    let v: f64 = text.parse().map_err(|_| err("malformed number", at))?;
    if v.is_infinite() {
        return Err(err(
            format!(
                "the number {} is beyond the largest double (about 1.8E308)",
                clip(text)
            ),
            at,
        ));
    }
    if v == 0.0 {
        return Err(err(
            format!(
                "the float {} is zero or rounds to zero, which RocketMQ refuses \
                 (it must be at least 4.9E-324); write 0 instead",
                clip(text)
            ),
            at,
        ));
    }
    Ok(Const::Double(v))
}
