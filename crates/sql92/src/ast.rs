//! The compiled form of a selector: an expression tree whose node kinds mirror the Java
//! expression classes closely enough that the parse-time checks (which ask "is this a
//! constant?", "is this a boolean expression?") give Java's answers.

/// A literal's value. `Int` and `Long` stay apart because Java converts a property string
/// compared with them by different parsers (`Integer.valueOf` refuses what does not fit 32 bits).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Const {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(Box<str>),
}

/// `>`, `>=`, `<`, `<=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OrderOp {
    Gt,
    Ge,
    Lt,
    Le,
}

/// `CONTAINS`, `STARTSWITH`, `ENDSWITH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextOp {
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Const(Const),
    Prop(Box<str>),
    /// Unary minus. Not folded into the literal: Java keeps it a separate (non-constant,
    /// non-boolean) node, which the parse-time checks can see.
    Negate(Box<Expr>),
    Not(Box<Expr>),
    /// A bare property where a condition is required (Java's `createBooleanCast`).
    BoolCast(Box<str>),
    /// One `AND` chain, flattened: evaluation order and short-circuiting are those of the
    /// left-nested Java tree, without its depth.
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// `=`; `<>` is `Not(Equal)` as in Java.
    Equal(Box<Expr>, Box<Expr>),
    Order(OrderOp, Box<Expr>, Box<Expr>),
    /// `IS NULL`, or `IS NOT NULL` when negated.
    IsNull(Box<Expr>, bool),
    /// `[NOT] BETWEEN`: Java builds `v >= lo AND v <= hi` (or `v < lo OR v > hi`) over two
    /// references to one `v`; one node avoids copying `v`, which could double the tree per
    /// nesting level.
    Between {
        value: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    /// `[NOT] IN`; only a property can be tested. `list` is sorted and deduplicated.
    In {
        name: Box<str>,
        list: Box<[Box<str>]>,
        negated: bool,
    },
    /// `[NOT] CONTAINS | STARTSWITH | ENDSWITH 'needle'`.
    Text {
        op: TextOp,
        negated: bool,
        operand: Box<Expr>,
        needle: Box<str>,
    },
}

impl Expr {
    /// Java's `instanceof BooleanExpression`. `TRUE`, `FALSE` and `NULL` literals count (they
    /// are `BooleanConstantExpression`s); string and number literals, properties and unary
    /// minus do not.
    pub(crate) fn is_boolean(&self) -> bool {
        match self {
            Expr::Const(c) => matches!(c, Const::Null | Const::Bool(_)),
            Expr::Prop(_) | Expr::Negate(_) => false,
            Expr::Not(_)
            | Expr::BoolCast(_)
            | Expr::And(_)
            | Expr::Or(_)
            | Expr::Equal(..)
            | Expr::Order(..)
            | Expr::IsNull(..)
            | Expr::Between { .. }
            | Expr::In { .. }
            | Expr::Text { .. } => true,
        }
    }
}
