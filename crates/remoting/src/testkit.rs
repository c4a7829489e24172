//! Property-test strategies for arbitrary well-framed requests (feature `testkit`), shared by the
//! servers' tests: each server describes the codes it serves and the header fields their
//! handlers read (`Shape`), and gets requests whose fields are mostly present and valued at the
//! edges of their kinds, plus unshaped requests with random known and unknown fields.
//!
//! What a server must do with any of them: answer, without the remark
//! [`PANIC_REMARK`](crate::connection::PANIC_REMARK) that marks a handler that panicked.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use crate::client::RemotingClient;
use crate::command::RemotingCommand;
use crate::connection::PANIC_REMARK;

/// How long [`expect_answers`] waits for each answer: far above any answer time of a healthy
/// server on loopback (a broker holds a long-polling pull at most its suspend time, which callers
/// keep short), short enough that a failing case, and its shrinking, do not take minutes.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// The runtime a random-request test keeps its one server on across cases: two workers, so the
/// server's tasks and the test's client do not take turns on one thread.
pub fn server_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime for the test server")
}

/// The kind of value a header field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    I32,
    I64,
    Text,
    Flag,
}

/// Request codes and the header fields their handler reads, with their kinds.
pub type Shape = (&'static [i32], &'static [(&'static str, Kind)]);

/// A field that no header has.
const UNKNOWN_FIELD: &str = "notAField";

/// Integers at the edges of i64 and i32, any i64, or not a number at all.
fn number() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            i64::MIN,
            i64::MAX,
            i32::MIN as i64,
            i32::MAX as i64,
            -1,
            0,
            1,
            2,
            4 * 1024 * 1024 + 1,
        ])
        .prop_map(|n| n.to_string()),
        2 => any::<i32>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => "[ -~]{0,12}",
    ]
    .boxed()
}

/// Text: one of `names` (names the server knows, so requests meet existing state), empty,
/// printable, RocketMQ property-list text, or about 6 KB.
pub fn text(names: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(names).prop_map(String::from),
        1 => Just(String::new()),
        2 => "[ -~]{0,40}",
        // name\u{1}value\u{2}…, with keys servers read.
        2 => "((TAGS|KEYS|UNIQ_KEY|DELAY|WAIT|TRAN_MSG|PGROUP|RETRY_TOPIC|MAX_OFFSET|x)\u{1}[ -~]{0,12}\u{2}){0,4}",
        1 => "[a-zA-Z0-9_%|-]{1,300}".prop_map(|s| s.repeat(20)),
    ]
    .boxed()
}

/// A value of `kind`; text comes from [`text`] with `names`.
pub fn value(kind: Kind, names: &'static [&'static str]) -> BoxedStrategy<String> {
    match kind {
        Kind::I32 => prop_oneof![
            4 => prop::sample::select(vec![i32::MIN, -1, 0, 1, 2, 3, 7, 8, 16, 18, 19, i32::MAX])
                .prop_map(|n| n.to_string()),
            2 => any::<i32>().prop_map(|n| n.to_string()),
            1 => number(),
        ]
        .boxed(),
        Kind::I64 => prop_oneof![
            3 => number(),
            1 => (0i64..100_000).prop_map(|n| n.to_string()),
        ]
        .boxed(),
        Kind::Text => text(names),
        Kind::Flag => prop_oneof![
            Just("true".to_string()),
            Just("false".to_string()),
            text(names),
        ]
        .boxed(),
    }
}

/// A request shaped like what its code's handler reads: each field present with probability
/// 0.9, valued by its kind.
fn shaped(
    shapes: &'static [Shape],
    names: &'static [&'static str],
) -> impl Strategy<Value = (i32, Vec<(String, String)>)> {
    prop::sample::select(shapes).prop_flat_map(move |(codes, fields)| {
        let values: Vec<_> = fields
            .iter()
            .map(|&(name, kind)| {
                prop::option::weighted(0.9, value(kind, names)).prop_map(move |v| (name, v))
            })
            .collect();
        (prop::sample::select(codes), values).prop_map(|(code, values)| {
            let fields = values
                .into_iter()
                .filter_map(|(n, v)| v.map(|v| (n.to_string(), v)))
                .collect();
            (code, fields)
        })
    })
}

/// A request of any code the shapes name, or any code under 2000, with each field any shape
/// names (and one no header has) present with probability 0.3, valued by its kind.
fn unshaped(
    shapes: &'static [Shape],
    names: &'static [&'static str],
) -> impl Strategy<Value = (i32, Vec<(String, String)>)> {
    let mut codes: Vec<i32> = shapes.iter().flat_map(|(c, _)| c.iter().copied()).collect();
    let mut fields: Vec<(&str, Kind)> =
        shapes.iter().flat_map(|(_, f)| f.iter().copied()).collect();
    codes.sort_unstable();
    codes.dedup();
    fields.sort_unstable_by_key(|f| f.0);
    fields.dedup_by_key(|f| f.0);
    fields.push((UNKNOWN_FIELD, Kind::Text));
    let code = prop_oneof![4 => prop::sample::select(codes), 1 => 0i32..2000];
    let values: Vec<_> = fields
        .into_iter()
        .map(|(name, kind)| {
            prop::option::weighted(0.3, value(kind, names)).prop_map(move |v| (name, v))
        })
        .collect();
    (code, values).prop_map(|(code, values)| {
        let fields = values
            .into_iter()
            .filter_map(|(n, v)| v.map(|v| (n.to_string(), v)))
            .collect();
        (code, fields)
    })
}

/// Random bytes or JSON-looking text.
pub fn junk_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        "[{}\\[\\]\":,a-zA-Z0-9 ]{0,200}".prop_map(String::into_bytes),
    ]
    .boxed()
}

/// Requests: three in four shaped (see `shaped`), the rest unshaped, each with a body from
/// `body` (`None`: no body).
pub fn request(
    shapes: &'static [Shape],
    names: &'static [&'static str],
    body: impl Strategy<Value = Option<Vec<u8>>>,
) -> impl Strategy<Value = RemotingCommand> {
    let head = prop_oneof![3 => shaped(shapes, names), 1 => unshaped(shapes, names)];
    (head, body).prop_map(|((code, fields), body)| {
        let mut cmd = RemotingCommand::new_request(code);
        cmd.ext_fields_mut().extend(fields);
        match body {
            Some(b) => cmd.with_body(b),
            None => cmd,
        }
    })
}

/// Sends `cmds` to `addr` one after another; fails the case on the first one that is not
/// answered within [`ANSWER_WITHIN`] or is answered with [`PANIC_REMARK`], naming its code and
/// header fields.
pub async fn expect_answers(
    client: &RemotingClient,
    addr: &str,
    cmds: Vec<RemotingCommand>,
) -> Result<(), TestCaseError> {
    for cmd in cmds {
        let code = cmd.code;
        let fields = format!("{:?}", cmd.ext_fields_view());
        let answer = client.invoke(addr, cmd, ANSWER_WITHIN).await.map_err(|e| {
            TestCaseError::fail(format!("code {code} with {fields} got no answer: {e:?}"))
        })?;
        let remark = answer.remark.unwrap_or_default();
        if remark.contains(PANIC_REMARK) {
            return Err(TestCaseError::fail(format!(
                "code {code} with {fields} panicked the handler: {remark}"
            )));
        }
    }
    Ok(())
}
