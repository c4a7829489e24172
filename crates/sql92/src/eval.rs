//! Evaluation of a compiled selector against one message's properties, with the value model
//! and comparison rules of RocketMQ's expression classes (`ComparisonExpression`,
//! `LogicExpression`, `UnaryExpression`, `UnaryInExpression`).
//!
//! Values borrow from the tree and from the properties; nothing here allocates. Where Java
//! throws during evaluation (a failed number conversion, a cast that cannot work) the result
//! is [`Abort`]: it unwinds the whole evaluation the way the exception does, and the broker's
//! `ExpressionMessageFilter` then treats the message as not matching.

use std::cmp::Ordering;

use crate::ast::{Const, Expr, OrderOp, TextOp};
use crate::java;
use crate::properties::Properties;

/// A runtime value: what a Java `evaluate` can return here (`null`, `Boolean`, `Integer`,
/// `Long`, `Double`, `String`).
#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(&'a str),
}

/// Java threw while evaluating; the message does not match.
#[derive(Debug)]
struct Abort;

type Eval<'a> = Result<Value<'a>, Abort>;

/// A number, for comparisons between numbers of different Java types.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i32),
    Long(i64),
    Double(f64),
}

/// `ComparisonExpression.__compare` between two numbers: int and long widen to long, anything
/// with a double widens to double and compares as `Double.compareTo`.
pub(crate) fn compare_numbers(a: Num, b: Num) -> Ordering {
    let wide = |n: Num| match n {
        Num::Int(i) => Ok(i64::from(i)),
        Num::Long(l) => Ok(l),
        Num::Double(d) => Err(d),
    };
    let as_double = |n: Num| match n {
        Num::Int(i) => f64::from(i),
        // Java's long-to-double conversion: round to nearest, as `as` does.
        Num::Long(l) => l as f64,
        Num::Double(d) => d,
    };
    match (wide(a), wide(b)) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => java::compare_double(as_double(a), as_double(b)),
    }
}

pub(crate) fn matches<P: Properties + ?Sized>(root: &Expr, props: &P) -> bool {
    matches!(eval(root, props), Ok(Value::Bool(true)))
}

/// A condition's value: TRUE, FALSE or NULL (`None`). `LogicExpression` and `createNOT` cast
/// their operands to `Boolean`; the parser only lets conditions get there, so the failing
/// cast is unreachable, but it aborts like Java's `ClassCastException` would.
fn truth(v: Value<'_>) -> Result<Option<bool>, Abort> {
    match v {
        Value::Bool(b) => Ok(Some(b)),
        Value::Null => Ok(None),
        _ => Err(Abort),
    }
}

fn constant(c: &Const) -> Value<'_> {
    match c {
        Const::Null => Value::Null,
        Const::Bool(b) => Value::Bool(*b),
        Const::Int(i) => Value::Int(*i),
        Const::Long(l) => Value::Long(*l),
        Const::Double(d) => Value::Double(*d),
        Const::Str(s) => Value::Str(s),
    }
}

fn property<'a, P: Properties + ?Sized>(props: &'a P, name: &str) -> Value<'a> {
    props.get(name).map_or(Value::Null, Value::Str)
}

/// The recursion. Each kind of node is evaluated by its own function so that this frame,
/// which is repeated once per tree level, stays small even in an unoptimised build.
fn eval<'a, P: Properties + ?Sized>(e: &'a Expr, props: &'a P) -> Eval<'a> {
    match e {
        Expr::Const(c) => Ok(constant(c)),
        Expr::Prop(name) => Ok(property(props, name)),
        Expr::Negate(x) => Ok(negate(eval(x, props)?)),
        Expr::Not(x) => not(eval(x, props)?),
        // `createBooleanCast`: NULL stays NULL, a non-Boolean is FALSE, and property values
        // are always strings.
        Expr::BoolCast(name) => Ok(props.get(name).map_or(Value::Null, |_| Value::Bool(false))),
        Expr::And(items) => all(items, props),
        Expr::Or(items) => any(items, props),
        Expr::Equal(l, r) => equal(l, r, props),
        Expr::Order(op, l, r) => {
            let lv = eval(l, props)?;
            Ok(tri(order(*op, lv, r, props)?))
        }
        Expr::IsNull(x, negated) => Ok(Value::Bool(
            matches!(eval(x, props)?, Value::Null) != *negated,
        )),
        Expr::Between {
            value,
            low,
            high,
            negated,
        } => between(value, low, high, *negated, props),
        Expr::In {
            name,
            list,
            negated,
        } => Ok(in_list(props.get(name), list, *negated)),
        Expr::Text {
            op,
            negated,
            operand,
            needle,
        } => text(*op, *negated, operand, needle, props),
    }
}

/// `UnaryExpression.negate`: only numbers negate (Java's int and long wrap around); anything
/// else, a numeric-looking property string included, is NULL.
fn negate(v: Value<'_>) -> Value<'_> {
    match v {
        Value::Int(i) => Value::Int(i.wrapping_neg()),
        Value::Long(l) => Value::Long(l.wrapping_neg()),
        Value::Double(d) => Value::Double(-d),
        _ => Value::Null,
    }
}

fn not(v: Value<'_>) -> Eval<'_> {
    Ok(truth(v)?.map_or(Value::Null, |b| Value::Bool(!b)))
}

/// `LogicExpression.createAND` over a flattened chain.
fn all<'a, P: Properties + ?Sized>(items: &'a [Expr], props: &'a P) -> Eval<'a> {
    let mut unknown = false;
    for x in items {
        match truth(eval(x, props)?)? {
            Some(false) => return Ok(Value::Bool(false)),
            Some(true) => {}
            None => unknown = true,
        }
    }
    Ok(if unknown {
        Value::Null
    } else {
        Value::Bool(true)
    })
}

/// `LogicExpression.createOR` over a flattened chain.
fn any<'a, P: Properties + ?Sized>(items: &'a [Expr], props: &'a P) -> Eval<'a> {
    let mut unknown = false;
    for x in items {
        match truth(eval(x, props)?)? {
            Some(true) => return Ok(Value::Bool(true)),
            Some(false) => {}
            None => unknown = true,
        }
    }
    Ok(if unknown {
        Value::Null
    } else {
        Value::Bool(false)
    })
}

/// `ComparisonExpression.doCreateEqual`.
fn equal<'a, P: Properties + ?Sized>(l: &'a Expr, r: &'a Expr, props: &'a P) -> Eval<'a> {
    // Both sides are evaluated before either is looked at, as in Java.
    let lv = eval(l, props)?;
    let rv = eval(r, props)?;
    Ok(match (lv, rv) {
        // null = null is TRUE, and only a null on the left makes the result NULL; a null on
        // the right alone is FALSE.
        (Value::Null, Value::Null) => Value::Bool(true),
        (Value::Null, _) => Value::Null,
        (_, Value::Null) => Value::Bool(false),
        _ => Value::Bool(compare(lv, rv)?.is_eq()),
    })
}

/// `[NOT] BETWEEN`, as Java's `v >= low AND v <= high` or `v < low OR v > high`. Java
/// evaluates `value` once per comparison; it has no side effects and the same outcome both
/// times, so once is the same.
fn between<'a, P: Properties + ?Sized>(
    value: &'a Expr,
    low: &'a Expr,
    high: &'a Expr,
    negated: bool,
    props: &'a P,
) -> Eval<'a> {
    let v = eval(value, props)?;
    // The first comparison decides alone when it is FALSE (for AND) or TRUE (for OR).
    let (first_op, second_op, decisive) = if negated {
        (OrderOp::Lt, OrderOp::Gt, true)
    } else {
        (OrderOp::Ge, OrderOp::Le, false)
    };
    let a = order(first_op, v, low, props)?;
    if a == Some(decisive) {
        return Ok(Value::Bool(decisive));
    }
    let b = order(second_op, v, high, props)?;
    Ok(match (a, b) {
        (_, Some(x)) if x == decisive => Value::Bool(decisive),
        (Some(_), Some(_)) => Value::Bool(!decisive),
        _ => Value::Null,
    })
}

/// `createInExpression`: NULL for a missing property, else membership (a property is always
/// a string, so Java's non-string NULL case cannot arise).
fn in_list<'a>(v: Option<&str>, list: &[Box<str>], negated: bool) -> Value<'a> {
    match v {
        None => Value::Null,
        Some(s) => Value::Bool(list.binary_search_by(|x| (**x).cmp(s)).is_ok() != negated),
    }
}

/// `ContainsExpression` and friends: FALSE, never NULL, for an empty search string (checked
/// before the operand is evaluated) and for a null or non-string operand, in the NOT forms too.
fn text<'a, P: Properties + ?Sized>(
    op: TextOp,
    negated: bool,
    operand: &'a Expr,
    needle: &str,
    props: &'a P,
) -> Eval<'a> {
    if needle.is_empty() {
        return Ok(Value::Bool(false));
    }
    Ok(match eval(operand, props)? {
        Value::Str(s) => {
            let hit = match op {
                TextOp::Contains => s.contains(needle),
                TextOp::StartsWith => s.starts_with(needle),
                TextOp::EndsWith => s.ends_with(needle),
            };
            Value::Bool(hit != negated)
        }
        _ => Value::Bool(false),
    })
}

fn tri<'a>(b: Option<bool>) -> Value<'a> {
    b.map_or(Value::Null, Value::Bool)
}

/// One ordering comparison (`ComparisonExpression.evaluate`) whose left value is already
/// known: NULL on either side gives NULL, and the right side is not evaluated when the left
/// is NULL. Two strings are both converted with `Double.valueOf`; anything else goes through
/// [`compare`].
fn order<'a, P: Properties + ?Sized>(
    op: OrderOp,
    lv: Value<'a>,
    r: &'a Expr,
    props: &'a P,
) -> Result<Option<bool>, Abort> {
    if let Value::Null = lv {
        return Ok(None);
    }
    let rv = eval(r, props)?;
    let ord = match (lv, rv) {
        (_, Value::Null) => return Ok(None),
        (Value::Str(a), Value::Str(b)) => {
            let a = java::parse_double(a).ok_or(Abort)?;
            let b = java::parse_double(b).ok_or(Abort)?;
            java::compare_double(a, b)
        }
        _ => compare(lv, rv)?,
    };
    Ok(Some(match op {
        OrderOp::Gt => ord.is_gt(),
        OrderOp::Ge => ord.is_ge(),
        OrderOp::Lt => ord.is_lt(),
        OrderOp::Le => ord.is_le(),
    }))
}

/// `ComparisonExpression.__compare` with string conversion on (the parser always turns it
/// on): values of one type compare naturally; a number and a string convert the string with
/// the parser of the number's Java type; a string and a boolean convert the string with
/// `Boolean.valueOf`; a boolean on the left and a string on the right fail (Java casts the
/// Boolean to String); any other mix is "less than" (Java's `-1`).
fn compare(lv: Value<'_>, rv: Value<'_>) -> Result<Ordering, Abort> {
    use Value::*;
    let num = |v: Value<'_>| match v {
        Int(i) => Some(Num::Int(i)),
        Long(l) => Some(Num::Long(l)),
        Double(d) => Some(Num::Double(d)),
        _ => None,
    };
    Ok(match (lv, rv) {
        (Null, _) | (_, Null) => return Err(Abort),
        (Bool(a), Bool(b)) => a.cmp(&b),
        (Str(a), Str(b)) => java::compare_strings(a, b),
        (Bool(_), Str(_)) => return Err(Abort),
        (Str(s), Bool(b)) => java::parse_bool(s).cmp(&b),
        (Str(s), Int(i)) => java::parse_int(s).ok_or(Abort)?.cmp(&i),
        (Str(s), Long(l)) => java::parse_long(s).ok_or(Abort)?.cmp(&l),
        (Str(s), Double(d)) => java::compare_double(java::parse_double(s).ok_or(Abort)?, d),
        (Int(i), Str(s)) => i.cmp(&java::parse_int(s).ok_or(Abort)?),
        (Long(l), Str(s)) => l.cmp(&java::parse_long(s).ok_or(Abort)?),
        (Double(d), Str(s)) => java::compare_double(d, java::parse_double(s).ok_or(Abort)?),
        (Bool(_), _) | (_, Bool(_)) => Ordering::Less,
        (a, b) => match (num(a), num(b)) {
            (Some(x), Some(y)) => compare_numbers(x, y),
            _ => Ordering::Less,
        },
    })
}
