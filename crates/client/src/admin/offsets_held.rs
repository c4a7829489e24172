//! The offsets a consumer group's clients hold in memory for a topic, as `mqadmin
//! getConsumerStatus` shows them: INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223) to a broker of the
//! topic, which asks each client of the group connected to it (GET_CONSUMER_STATUS_FROM_CLIENT,
//! 221). A running consumer commits these every few seconds, so they can be ahead of what
//! `consumer_progress` reads from the brokers; a client far behind the others on a queue it owns
//! is stuck. Java's admin asks the first broker of the route only; this asks the masters in turn
//! until one answers, since any broker the clients pull from knows them all.

use courier_remoting::body::GetConsumerStatusBody;
use courier_remoting::code::{request, response};
use courier_remoting::header::GetConsumerStatusRequestHeader;
use courier_remoting::RemotingCommand;

use super::Admin;
use crate::error::{decode_failed, ClientError, Result};
use crate::message_queue::MessageQueue;

/// One client's offsets, by queue.
pub type HeldOffsets = Vec<(MessageQueue, i64)>;

impl Admin {
    /// Each online client of `group` (only `client_id`, if given) with the offsets it holds for
    /// `topic`'s queues, sorted by client id and queue. A client that did not answer its broker
    /// in time is missing; no client online is an error naming the group.
    pub async fn consumer_offsets_held(
        &self,
        group: &str,
        topic: &str,
        client_id: Option<&str>,
    ) -> Result<Vec<(String, HeldOffsets)>> {
        let header = GetConsumerStatusRequestHeader {
            topic: topic.to_string(),
            group: group.to_string(),
            client_addr: client_id.map(str::to_string),
        };
        let mut refusal = None;
        for addr in self.topic_masters(topic).await? {
            let cmd = RemotingCommand::request_with_header(
                request::INVOKE_BROKER_TO_GET_CONSUMER_STATUS,
                &header,
            );
            // The broker gives its clients 5 s to answer.
            let resp = self
                .instance
                .invoke(&addr, cmd, super::CONSUMER_CALL_TIMEOUT)
                .await?;
            if resp.code != response::SUCCESS {
                refusal = Some(ClientError::Broker {
                    addr,
                    code: resp.code,
                    remark: resp.remark.unwrap_or_default(),
                });
                continue;
            }
            let body = GetConsumerStatusBody::from_json(resp.body_bytes())
                .map_err(decode_failed("consumer status"))?;
            let mut held: Vec<(String, HeldOffsets)> = body
                .consumer_table
                .into_iter()
                .map(|(client, table)| {
                    let mut table: HeldOffsets = table
                        .into_iter()
                        .map(|(q, o)| (MessageQueue::from_wire(q), o))
                        .collect();
                    table.sort();
                    (client, table)
                })
                .collect();
            held.sort_by(|a, b| a.0.cmp(&b.0));
            return Ok(held);
        }
        Err(refusal.unwrap_or_else(|| {
            ClientError::Refused(format!("no master broker routes topic {topic}"))
        }))
    }
}
