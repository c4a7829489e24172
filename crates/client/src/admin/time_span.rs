//! A consumer group's lag on a topic in time rather than messages (QUERY_CONSUME_TIME_SPAN, what
//! Java's `MQAdminExt.queryConsumeTimeSpan` asks): per queue on every broker routing the topic,
//! the store times of its oldest and newest messages and of the last one the group consumed, and
//! how long the group's next message has waited. A lag of 100,000 messages can be a second of
//! traffic or a day of it; the wait says which.

use courier_remoting::body::{from_json, QueryConsumeTimeSpanBody, QueueTimeSpan};
use courier_remoting::code::request;
use courier_remoting::header::QueryConsumeTimeSpanRequestHeader;
use courier_remoting::RemotingCommand;

use super::Admin;
use crate::error::{decode_failed, Result};

impl Admin {
    /// `group`'s time span on every queue of `topic`, from each master routing it, sorted by
    /// queue (broker name, then id).
    pub async fn consume_time_span(&self, group: &str, topic: &str) -> Result<Vec<QueueTimeSpan>> {
        let mut all = Vec::new();
        for addr in self.topic_masters(topic).await? {
            let cmd = RemotingCommand::request_with_header(
                request::QUERY_CONSUME_TIME_SPAN,
                &QueryConsumeTimeSpanRequestHeader {
                    topic: topic.to_string(),
                    group: group.to_string(),
                },
            );
            let resp = self
                .instance
                .invoke_ok(&addr, cmd, self.instance.options.request_timeout)
                .await?;
            let body: QueryConsumeTimeSpanBody =
                from_json(resp.body_bytes()).map_err(decode_failed("consume time span"))?;
            all.extend(body.consume_time_span_set);
        }
        all.sort_by(|a, b| a.message_queue.cmp(&b.message_queue));
        Ok(all)
    }
}
