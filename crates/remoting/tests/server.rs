//! Server and client over real TCP on 127.0.0.1: dispatch, unknown codes,
//! oneway, the in-flight cap, graceful shutdown, server → client requests,
//! failure of pending requests on disconnect, and reconnect on next use.

use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use courier_remoting::code::{request, response};
use courier_remoting::{
    serve, serve_with, ClientConfig, ConnectionConfig, ConnectionHandle, Dispatcher, ProcessResult,
    RemotingClient, RemotingCodec, RemotingCommand, RemotingError, ServerConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_util::codec::Decoder;
use tokio_util::sync::CancellationToken;

const ECHO: i32 = 1000;
const BLOCK: i32 = 1001;
const NOTE: i32 = 1002;
const SILENT: i32 = 1003;
const DROP_CONN: i32 = 1004;
const PANIC_NOW: i32 = 1005;
const PANIC_LATER: i32 = 1006;
const PANIC_IN_CALL: i32 = 1007;
const LONG: Duration = Duration::from_secs(20);

struct Fixture {
    addr: String,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    entered: mpsc::UnboundedReceiver<i32>,
    gate: Arc<Semaphore>,
    conns: mpsc::UnboundedReceiver<ConnectionHandle>,
}

async fn start(max_in_flight: usize) -> Fixture {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (entered_tx, entered) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let mut d = Dispatcher::new();
    d.register(
        ECHO,
        Arc::new(|_c: ConnectionHandle, req: RemotingCommand| async move {
            let body = req.body.clone().unwrap_or_default();
            Ok(Some(RemotingCommand::success_to(&req).with_body(body))) as ProcessResult
        }),
    );
    let g = gate.clone();
    let e = entered_tx.clone();
    d.register(
        BLOCK,
        Arc::new(move |_c: ConnectionHandle, req: RemotingCommand| {
            let g = g.clone();
            let e = e.clone();
            async move {
                let _ = e.send(req.code);
                let permit = g
                    .acquire()
                    .await
                    .map_err(|_| courier_remoting::ProcessError::Other("closed".into()))?;
                permit.forget();
                Ok(Some(
                    RemotingCommand::success_to(&req).with_remark("released"),
                )) as ProcessResult
            }
        }),
    );
    let e = entered_tx.clone();
    d.register(
        NOTE,
        Arc::new(move |_c: ConnectionHandle, req: RemotingCommand| {
            let e = e.clone();
            async move {
                let _ = e.send(req.code);
                // Must be suppressed when the request is oneway.
                Ok(Some(RemotingCommand::error_to(
                    &req,
                    777,
                    "should not be sent for oneway",
                ))) as ProcessResult
            }
        }),
    );
    d.register(
        SILENT,
        Arc::new(
            |_c: ConnectionHandle, _r: RemotingCommand| async move { Ok(None) as ProcessResult },
        ),
    );
    d.register(
        DROP_CONN,
        Arc::new(|c: ConnectionHandle, _r: RemotingCommand| async move {
            c.close();
            Ok(None) as ProcessResult
        }),
    );
    d.register(
        PANIC_NOW,
        Arc::new(|_c: ConnectionHandle, _r: RemotingCommand| async move {
            panic!("handler bug on the first poll")
        }),
    );
    d.register(
        PANIC_LATER,
        Arc::new(|_c: ConnectionHandle, _r: RemotingCommand| async move {
            // Pending once, so the connection spawns it before it panics.
            tokio::task::yield_now().await;
            panic!("handler bug after a wait")
        }),
    );
    d.register(
        PANIC_IN_CALL,
        Arc::new(|_c: ConnectionHandle, r: RemotingCommand| {
            // A processor that works before it returns its future, and panics there.
            if r.code == PANIC_IN_CALL {
                panic!("handler bug before its future");
            }
            async { Ok(None) as ProcessResult }
        }),
    );
    let (conn_tx, conns) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let config = ServerConfig {
        connection: ConnectionConfig {
            max_in_flight,
            ..Default::default()
        },
    };
    let server = tokio::spawn(serve_with(
        listener,
        Arc::new(d),
        config,
        shutdown.clone(),
        move |h| {
            let _ = conn_tx.send(h.clone());
        },
    ));
    Fixture {
        addr,
        shutdown,
        server,
        entered,
        gate,
        conns,
    }
}

#[tokio::test]
async fn echo_and_unknown_code() {
    let f = start(64).await;
    let client = RemotingClient::default();
    let resp = client
        .invoke(
            &f.addr,
            RemotingCommand::new_request(ECHO).with_body(&b"ping"[..]),
            LONG,
        )
        .await
        .unwrap();
    assert!(resp.is_response());
    assert_eq!(resp.code, response::SUCCESS);
    assert_eq!(resp.body_bytes(), b"ping");

    let resp = client
        .invoke(&f.addr, RemotingCommand::new_request(9999), LONG)
        .await
        .unwrap();
    assert_eq!(resp.code, response::REQUEST_CODE_NOT_SUPPORTED);
    assert_eq!(
        resp.remark.as_deref(),
        Some(" request type 9999 not supported")
    );
}

/// A panicking handler costs its own request, answered SYSTEM_ERROR, and not the connection:
/// before, a panic on the read task left the peer waiting on a socket nobody read.
#[tokio::test]
async fn a_panicking_handler_is_answered_and_the_connection_goes_on() {
    let f = start(64).await;
    let client = RemotingClient::default();
    let mut conns = f.conns;
    for (code, text) in [
        (PANIC_NOW, "handler bug on the first poll"),
        (PANIC_LATER, "handler bug after a wait"),
        (PANIC_IN_CALL, "handler bug before its future"),
    ] {
        let resp = client
            .invoke(&f.addr, RemotingCommand::new_request(code), LONG)
            .await
            .unwrap();
        assert_eq!(resp.code, response::SYSTEM_ERROR);
        let remark = resp.remark.unwrap_or_default();
        assert!(
            remark.contains("panicked") && remark.contains(text),
            "{remark}"
        );
        let echo = client
            .invoke(
                &f.addr,
                RemotingCommand::new_request(ECHO).with_body(&b"still here"[..]),
                LONG,
            )
            .await
            .unwrap();
        assert_eq!(echo.body_bytes(), b"still here");
    }
    // All of it over the one connection the client opened.
    assert!(conns.recv().await.is_some());
    assert!(conns.try_recv().is_err(), "the client had to reconnect");
}

#[tokio::test]
async fn many_concurrent_requests_are_matched_by_opaque() {
    let f = start(1024).await;
    let client = Arc::new(RemotingClient::default());
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let client = client.clone();
        let addr = f.addr.clone();
        tasks.push(tokio::spawn(async move {
            let body = i.to_string();
            let resp = client
                .invoke(
                    &addr,
                    RemotingCommand::new_request(ECHO).with_body(body.clone().into_bytes()),
                    LONG,
                )
                .await
                .unwrap();
            assert_eq!(resp.body_bytes(), body.as_bytes());
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Large bodies are written from their own buffers (vectored writes) between small frames; every
/// byte must arrive in order, in both directions, whatever mix is queued at once.
#[tokio::test]
async fn large_and_small_bodies_interleave_intact() {
    let f = start(1024).await;
    let client = Arc::new(RemotingClient::default());
    let mut tasks = Vec::new();
    for i in 0..120usize {
        let client = client.clone();
        let addr = f.addr.clone();
        tasks.push(tokio::spawn(async move {
            // Sizes on both sides of the zero-copy threshold, up to 300 KiB (over the 256 KiB
            // write batch), each filled with a pattern that tells misplaced bytes apart.
            let len = match i % 4 {
                0 => 5 + i,
                1 => 8 * 1024 - 1 + i,
                2 => 8 * 1024 + i * 97,
                _ => 300 * 1024 + i,
            };
            let body: Vec<u8> = (0..len).map(|k| ((k * 31 + i * 7) % 251) as u8).collect();
            let resp = client
                .invoke(
                    &addr,
                    RemotingCommand::new_request(ECHO).with_body(body.clone()),
                    LONG,
                )
                .await
                .unwrap();
            assert_eq!(resp.body_bytes().len(), len);
            assert!(resp.body_bytes() == body.as_slice(), "body {i} differs");
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn read_all_frames(stream: &mut TcpStream) -> Vec<RemotingCommand> {
    let mut all = Vec::new();
    stream.read_to_end(&mut all).await.unwrap();
    let mut buf = BytesMut::from(&all[..]);
    let mut codec = RemotingCodec::default();
    let mut out = Vec::new();
    while let Some(cmd) = codec.decode(&mut buf).unwrap() {
        out.push(cmd);
    }
    assert!(buf.is_empty());
    out
}

#[tokio::test]
async fn oneway_requests_get_no_response() {
    let mut f = start(64).await;
    let codec = RemotingCodec::default();
    let mut stream = TcpStream::connect(&f.addr).await.unwrap();
    let mut oneway = RemotingCommand::new_request(NOTE);
    oneway.mark_oneway();
    stream
        .write_all(&codec.encode_to_vec(&oneway).unwrap())
        .await
        .unwrap();
    assert_eq!(f.entered.recv().await, Some(NOTE));
    let normal = RemotingCommand::new_request(ECHO);
    stream
        .write_all(&codec.encode_to_vec(&normal).unwrap())
        .await
        .unwrap();
    // Half-close: the server drains everything it will ever send, then closes.
    stream.shutdown().await.unwrap();
    let frames = read_all_frames(&mut stream).await;
    assert_eq!(frames.len(), 1, "{frames:?}");
    assert_eq!(frames[0].opaque, normal.opaque);
    assert_eq!(frames[0].code, response::SUCCESS);
}

#[tokio::test]
async fn in_flight_cap_answers_system_busy() {
    let mut f = start(2).await;
    let client = Arc::new(RemotingClient::default());
    let mut blocked = Vec::new();
    for _ in 0..2 {
        let client = client.clone();
        let addr = f.addr.clone();
        blocked.push(tokio::spawn(async move {
            client
                .invoke(&addr, RemotingCommand::new_request(BLOCK), LONG)
                .await
                .unwrap()
        }));
    }
    assert_eq!(f.entered.recv().await, Some(BLOCK));
    assert_eq!(f.entered.recv().await, Some(BLOCK));
    let busy = client
        .invoke(&f.addr, RemotingCommand::new_request(ECHO), LONG)
        .await
        .unwrap();
    assert_eq!(busy.code, response::SYSTEM_BUSY);
    assert!(
        busy.remark
            .as_deref()
            .unwrap_or("")
            .starts_with("[OVERLOAD]system busy"),
        "{busy:?}"
    );
    f.gate.add_permits(2);
    for b in blocked {
        let resp = b.await.unwrap();
        assert_eq!(resp.code, response::SUCCESS);
        assert_eq!(resp.remark.as_deref(), Some("released"));
    }
    // Capacity is back once they finished.
    let ok = client
        .invoke(&f.addr, RemotingCommand::new_request(ECHO), LONG)
        .await
        .unwrap();
    assert_eq!(ok.code, response::SUCCESS);
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_requests() {
    let mut f = start(64).await;
    let client = Arc::new(RemotingClient::default());
    let c = client.clone();
    let addr = f.addr.clone();
    let inflight = tokio::spawn(async move {
        c.invoke(&addr, RemotingCommand::new_request(BLOCK), LONG)
            .await
    });
    assert_eq!(f.entered.recv().await, Some(BLOCK));
    f.shutdown.cancel();
    f.gate.add_permits(1);
    let resp = inflight.await.unwrap().unwrap();
    assert_eq!(resp.remark.as_deref(), Some("released"));
    f.server.await.unwrap();
    // The listener is gone: new connections are refused.
    assert!(TcpStream::connect(&f.addr).await.is_err());
    // And the existing connection was closed by the server.
    let err = client
        .invoke(&f.addr, RemotingCommand::new_request(ECHO), LONG)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RemotingError::Connect { .. } | RemotingError::ConnectionClosed(_)
        ),
        "{err}"
    );
}

#[tokio::test]
async fn server_can_send_requests_to_a_client() {
    let mut f = start(64).await;
    let (notified_tx, mut notified) = mpsc::unbounded_channel();
    let mut d = Dispatcher::new();
    d.register(
        request::GET_CONSUMER_RUNNING_INFO,
        Arc::new(|_c: ConnectionHandle, req: RemotingCommand| async move {
            Ok(Some(
                RemotingCommand::success_to(&req).with_body(&b"running"[..]),
            )) as ProcessResult
        }),
    );
    d.register(
        request::NOTIFY_CONSUMER_IDS_CHANGED,
        Arc::new(move |_c: ConnectionHandle, req: RemotingCommand| {
            let tx = notified_tx.clone();
            async move {
                let _ = tx.send(req.ext_field("consumerGroup").map(|v| v.into_owned()));
                Ok(None) as ProcessResult
            }
        }),
    );
    let client = RemotingClient::with_dispatcher(ClientConfig::default(), d);
    client
        .invoke(&f.addr, RemotingCommand::new_request(ECHO), LONG)
        .await
        .unwrap();
    let conn = f.conns.recv().await.unwrap();

    let resp = conn
        .invoke(
            RemotingCommand::new_request(request::GET_CONSUMER_RUNNING_INFO),
            LONG,
        )
        .await
        .unwrap();
    assert_eq!(resp.code, response::SUCCESS);
    assert_eq!(resp.body_bytes(), b"running");

    let mut note = RemotingCommand::new_request(request::NOTIFY_CONSUMER_IDS_CHANGED);
    note.ext_fields.insert("consumerGroup".into(), "cg".into());
    conn.invoke_oneway(note).await.unwrap();
    assert_eq!(notified.recv().await, Some(Some("cg".to_string())));

    let resp = conn
        .invoke(
            RemotingCommand::new_request(request::CHECK_TRANSACTION_STATE),
            LONG,
        )
        .await
        .unwrap();
    assert_eq!(resp.code, response::REQUEST_CODE_NOT_SUPPORTED);
}

#[tokio::test]
async fn pending_requests_fail_when_the_connection_drops_and_the_client_reconnects() {
    let f = start(64).await;
    let client = RemotingClient::default();
    let err = client
        .invoke(&f.addr, RemotingCommand::new_request(DROP_CONN), LONG)
        .await
        .unwrap_err();
    assert!(matches!(err, RemotingError::ConnectionClosed(_)), "{err}");
    let resp = client
        .invoke(&f.addr, RemotingCommand::new_request(ECHO), LONG)
        .await
        .unwrap();
    assert_eq!(resp.code, response::SUCCESS);
}

#[tokio::test]
async fn a_request_without_response_times_out() {
    let f = start(64).await;
    let client = RemotingClient::default();
    let err = client
        .invoke(
            &f.addr,
            RemotingCommand::new_request(SILENT),
            Duration::from_millis(100),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, RemotingError::Timeout { .. }), "{err}");
    // The connection is still usable.
    let resp = client
        .invoke(&f.addr, RemotingCommand::new_request(ECHO), LONG)
        .await
        .unwrap();
    assert_eq!(resp.code, response::SUCCESS);
}

#[tokio::test]
async fn bad_frames_close_the_connection() {
    let f = start(64).await;
    for garbage in [
        &i32::MAX.to_be_bytes()[..],
        &[0, 0, 0, 8, 0, 0, 0, 9, 1, 2, 3, 4][..],
        &[0, 0, 0, 6, 0, 0, 0, 2, b'{', b'x'][..],
    ] {
        let mut stream = TcpStream::connect(&f.addr).await.unwrap();
        stream.write_all(garbage).await.unwrap();
        let frames = read_all_frames(&mut stream).await;
        assert!(frames.is_empty());
    }
    // The server still serves others.
    let client = RemotingClient::default();
    let resp = client
        .invoke(&f.addr, RemotingCommand::new_request(ECHO), LONG)
        .await
        .unwrap();
    assert_eq!(resp.code, response::SUCCESS);
}

#[tokio::test]
async fn connect_failure_is_reported() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let client = RemotingClient::default();
    let err = client
        .invoke(&addr, RemotingCommand::new_request(ECHO), LONG)
        .await
        .unwrap_err();
    assert!(matches!(err, RemotingError::Connect { .. }), "{err}");
    assert!(err.to_string().contains("check that the server is running"));
}

#[tokio::test]
async fn plain_serve_works() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(serve(
        listener,
        Arc::new(Dispatcher::new()),
        ServerConfig::default(),
        shutdown.clone(),
    ));
    let client = RemotingClient::default();
    let resp = client
        .invoke(&addr, RemotingCommand::new_request(ECHO), LONG)
        .await
        .unwrap();
    assert_eq!(resp.code, response::REQUEST_CODE_NOT_SUPPORTED);
    shutdown.cancel();
    server.await.unwrap();
}
