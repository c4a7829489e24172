//! RocketMQ's request-reply, the client's parts: the requester's table of waiting requests and
//! its handler for PUSH_REPLY_MESSAGE_TO_CLIENT (326), and the responder's
//! [`Message::reply_to`].
//!
//! A request is an ordinary message with CORRELATION_ID (a random UUID), REPLY_TO_CLIENT (the
//! requester's client id) and TTL (its timeout, ms); the broker stores it with CLUSTER. The
//! responder, a consumer, answers with `Message::reply_to(&request, body)`: a message to
//! `<CLUSTER>_REPLY_TOPIC` carrying the three properties and MSG_TYPE=reply, which a producer
//! sends with SEND_REPLY_MESSAGE_V2. The broker that takes it pushes it to the requester's
//! connection; the handler here completes the request whose CORRELATION_ID it carries.
//!
//! Invariants: a waiter is in the table from before its request is sent until its reply
//! arrives or it gives up (dropping [`Waiting`] removes it), so a reply can never outrun its
//! request's registration and an abandoned request leaves nothing behind. A reply nobody waits
//! for (late, or for another process) is answered SUCCESS and dropped, as Java's client does.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use courier_remoting::code::response;
use courier_remoting::header::ReplyMessageRequestHeader;
use courier_remoting::RemotingCommand;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::error::{ClientError, Result};
use crate::message::{decode_properties, property, Message};
use crate::message_ext::{inflate, MessageExt, FLAG_COMPRESSED};

/// MSG_TYPE of a reply message.
pub const REPLY_MESSAGE_FLAG: &str = "reply";

/// The reply topic of a cluster, `<cluster>_REPLY_TOPIC`; every broker creates it.
pub fn reply_topic(cluster: &str) -> String {
    format!("{cluster}_REPLY_TOPIC")
}

/// A fresh CORRELATION_ID: a random (version 4) UUID in its usual text form, as Java's is.
pub(crate) fn new_correlation_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0F) | 0x40;
    b[8] = (b[8] & 0x3F) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The requests of one client waiting for their replies, by CORRELATION_ID.
#[derive(Clone, Default)]
pub(crate) struct ReplyWaiters {
    table: Arc<Mutex<HashMap<String, oneshot::Sender<MessageExt>>>>,
}

/// One request's place in the table; dropping it gives the place up.
pub(crate) struct Waiting {
    waiters: ReplyWaiters,
    correlation_id: String,
    pub reply: oneshot::Receiver<MessageExt>,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.waiters.table.lock().remove(&self.correlation_id);
    }
}

impl ReplyWaiters {
    /// Registers a request before it is sent.
    pub fn wait_for(&self, correlation_id: &str) -> Waiting {
        let (tx, rx) = oneshot::channel();
        self.table.lock().insert(correlation_id.to_string(), tx);
        Waiting {
            waiters: self.clone(),
            correlation_id: correlation_id.to_string(),
            reply: rx,
        }
    }

    /// How many requests wait (for tests).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.table.lock().len()
    }

    /// Handles PUSH_REPLY_MESSAGE_TO_CLIENT: decodes the reply, completes its request and
    /// returns the answer for the broker.
    pub fn on_push(&self, req: &RemotingCommand) -> RemotingCommand {
        let reply = match reply_from_push(req) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "a pushed reply could not be decoded");
                return RemotingCommand::error_to(
                    req,
                    response::SYSTEM_ERROR,
                    format!("process reply message fail: {e}"),
                );
            }
        };
        let id = reply.property(property::CORRELATION_ID).unwrap_or("");
        match self.table.lock().remove(id) {
            Some(waiter) => {
                let _ = waiter.send(reply);
            }
            None => tracing::warn!(
                correlation_id = id,
                from = %reply.born_host,
                "a reply matched no waiting request (it came after its timeout?)"
            ),
        }
        RemotingCommand::response_to(req, response::SUCCESS, None)
    }
}

/// The reply a PUSH_REPLY_MESSAGE_TO_CLIENT carries, as the requester sees it: the header's
/// fields, the body (inflated when the responder compressed it) and ARRIVE_TIME added.
fn reply_from_push(req: &RemotingCommand) -> Result<MessageExt> {
    let h: ReplyMessageRequestHeader = req.decode_header().map_err(|e| ClientError::Decode {
        what: "PUSH_REPLY_MESSAGE_TO_CLIENT header",
        reason: e.to_string(),
    })?;
    let host = |text: &str| {
        text.parse::<SocketAddr>()
            .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
    };
    let mut body = Bytes::copy_from_slice(req.body_bytes());
    if h.sys_flag & FLAG_COMPRESSED != 0 {
        body = Bytes::from(inflate(&body)?);
    }
    let mut properties = decode_properties(h.properties.as_deref().unwrap_or(""));
    properties.insert(
        property::ARRIVE_TIME.into(),
        crate::producer::now_ms().to_string(),
    );
    let msg_id = properties
        .get(property::UNIQ_KEY)
        .cloned()
        .unwrap_or_default();
    Ok(MessageExt {
        topic: h.topic,
        queue_id: h.queue_id,
        queue_offset: 0,
        commit_log_offset: 0,
        store_size: 0,
        body_crc: 0,
        flag: h.flag,
        sys_flag: h.sys_flag,
        born_timestamp: h.born_timestamp,
        born_host: host(&h.born_host),
        store_timestamp: h.store_timestamp,
        store_host: host(&h.store_host),
        reconsume_times: h.reconsume_times.unwrap_or(0),
        prepared_transaction_offset: 0,
        body,
        properties,
        offset_msg_id: String::new(),
        msg_id,
    })
}

impl Message {
    /// The reply to a request message a consumer received (Java's
    /// `MessageUtil.createReplyMessage`): addressed to the request's cluster's reply topic, with
    /// its CORRELATION_ID, REPLY_TO_CLIENT and TTL, and MSG_TYPE=reply, which makes
    /// [`Producer::send`](crate::Producer::send) use SEND_REPLY_MESSAGE_V2. Fails when the
    /// request has no CLUSTER property: it was not sent with `Producer::request`, or its broker
    /// does not stamp the cluster.
    pub fn reply_to(request: &MessageExt, body: impl Into<Bytes>) -> Result<Message> {
        let Some(cluster) = request.property(property::CLUSTER) else {
            return Err(ClientError::InvalidMessage(format!(
                "cannot reply to message {}: it has no {} property (was it sent with Producer::request to a RocketMQ broker?)",
                request.msg_id,
                property::CLUSTER
            )));
        };
        let mut reply = Message::new(reply_topic(cluster), body)
            .with_property(property::MSG_TYPE, REPLY_MESSAGE_FLAG);
        for key in [
            property::CORRELATION_ID,
            property::REPLY_TO_CLIENT,
            property::TTL,
        ] {
            if let Some(v) = request.property(key) {
                reply = reply.with_property(key, v);
            }
        }
        Ok(reply)
    }

    /// True for a message made by [`Message::reply_to`].
    pub fn is_reply(&self) -> bool {
        self.property(property::MSG_TYPE) == Some(REPLY_MESSAGE_FLAG)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_remoting::code::request;

    #[test]
    fn correlation_ids_are_version_4_uuids() {
        let a = new_correlation_id();
        assert_eq!(a.len(), 36);
        let parts: Vec<&str> = a.split('-').collect();
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(parts[2].starts_with('4'));
        assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"));
        assert_ne!(a, new_correlation_id());
    }

    fn request_ext(props: &[(&str, &str)]) -> MessageExt {
        let mut m = reply_from_push(&push("x", b"question", 0)).unwrap();
        m.properties = props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        m
    }

    #[test]
    fn a_reply_goes_to_the_cluster_reply_topic_with_the_request_ids() {
        let req = request_ext(&[
            ("CLUSTER", "c1"),
            ("CORRELATION_ID", "id-1"),
            ("REPLY_TO_CLIENT", "10.0.0.1@7"),
            ("TTL", "3000"),
            ("TAGS", "not copied"),
        ]);
        let r = Message::reply_to(&req, "ok").unwrap();
        assert_eq!(r.topic, "c1_REPLY_TOPIC");
        assert!(r.is_reply());
        assert_eq!(r.property("CORRELATION_ID"), Some("id-1"));
        assert_eq!(r.property("REPLY_TO_CLIENT"), Some("10.0.0.1@7"));
        assert_eq!(r.property("TTL"), Some("3000"));
        assert_eq!(r.tags(), None);
        let err = Message::reply_to(&request_ext(&[("CORRELATION_ID", "x")]), "ok").unwrap_err();
        assert!(err.to_string().contains("no CLUSTER property"), "{err}");
    }

    fn push(correlation: &str, body: &[u8], sys_flag: i32) -> RemotingCommand {
        let h = ReplyMessageRequestHeader {
            producer_group: "pg".into(),
            topic: "c1_REPLY_TOPIC".into(),
            default_topic: "TBW102".into(),
            default_topic_queue_nums: 4,
            queue_id: 0,
            sys_flag,
            born_timestamp: 1_700_000_000_000,
            flag: 3,
            properties: Some(format!("CORRELATION_ID\u{1}{correlation}\u{2}")),
            reconsume_times: Some(0),
            unit_mode: Some(false),
            born_host: "127.0.0.1:4000".into(),
            store_host: "127.0.0.1:10911".into(),
            store_timestamp: 1_700_000_000_100,
        };
        RemotingCommand::request_with_header(request::PUSH_REPLY_MESSAGE_TO_CLIENT, &h)
            .with_body(body.to_vec())
    }

    #[tokio::test]
    async fn a_push_completes_its_request_and_only_that_one() {
        let waiters = ReplyWaiters::default();
        let mut w = waiters.wait_for("a");
        let other = waiters.wait_for("b");
        let packed = crate::compress::compress(b"compressed answer", 6).unwrap();
        let r = waiters.on_push(&push("a", &packed, FLAG_COMPRESSED));
        assert_eq!(r.code, response::SUCCESS);
        let m = (&mut w.reply).await.unwrap();
        assert_eq!(&m.body[..], b"compressed answer");
        assert_eq!(m.flag, 3);
        assert_eq!(m.store_host.to_string(), "127.0.0.1:10911");
        assert!(m.property("ARRIVE_TIME").is_some());
        assert_eq!(waiters.len(), 1, "only b still waits");
        // A reply for nobody is taken and dropped; a dropped waiter leaves the table.
        let r = waiters.on_push(&push("zzz", b"late", 0));
        assert_eq!(r.code, response::SUCCESS);
        drop(other);
        assert_eq!(waiters.len(), 0);
        // A header that does not decode is refused.
        let bad = RemotingCommand::new_request(request::PUSH_REPLY_MESSAGE_TO_CLIENT);
        let r = waiters.on_push(&bad);
        assert_eq!(r.code, response::SYSTEM_ERROR);
    }
}
