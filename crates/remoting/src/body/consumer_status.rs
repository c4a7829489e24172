//! Java's `GetConsumerStatusBody`: a consumer's answer to GET_CONSUMER_STATUS_FROM_CLIENT (221)
//! fills `messageQueueTable` with the offsets it holds for the asked topic; the broker's answer to
//! INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223) fills `consumerTable`, one such table per client id:
//! `{"consumerTable":{"<clientId>":{<queue>:7}},"messageQueueTable":{<queue>:7}}`, each
//! queue-keyed map in fastjson's form (`queue_map`), members in fastjson's alphabetical order.

use serde_json::Value;

use super::queue_map::{read_map, write_map};
use super::{BodyError, MessageQueue};

/// Offsets held by clients, per queue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetConsumerStatusBody {
    /// One client's offsets (its answer to 221).
    pub message_queue_table: Vec<(MessageQueue, i64)>,
    /// Each client's offsets by client id (the broker's answer to 223).
    pub consumer_table: Vec<(String, Vec<(MessageQueue, i64)>)>,
}

impl GetConsumerStatusBody {
    /// The body as Java writes it.
    pub fn to_fastjson(&self) -> Vec<u8> {
        let mut out = b"{\"consumerTable\":{".to_vec();
        for (i, (client, table)) in self.consumer_table.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&serde_json::to_vec(client).unwrap_or_default());
            out.push(b':');
            write_map(&mut out, table);
        }
        out.extend_from_slice(b"},\"messageQueueTable\":");
        write_map(&mut out, &self.message_queue_table);
        out.push(b'}');
        out
    }

    /// Reads a body in Java's form (or with the queue keys as JSON-text strings).
    pub fn from_json(bytes: &[u8]) -> Result<Self, BodyError> {
        let body: Value = super::from_json(bytes)?;
        let message_queue_table = read_map(body.get("messageQueueTable"), "messageQueueTable")?;
        let consumer_table = match body.get("consumerTable") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(clients)) => clients
                .iter()
                .map(|(client, table)| {
                    Ok((client.clone(), read_map(Some(table), "consumerTable")?))
                })
                .collect::<Result<_, BodyError>>()?,
            Some(other) => {
                return Err(BodyError::Json {
                    what: "consumer status",
                    reason: format!("consumerTable is {other}, not an object"),
                })
            }
        };
        Ok(GetConsumerStatusBody {
            message_queue_table,
            consumer_table,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_queue as mq;
    use super::*;

    #[test]
    fn written_as_java_writes_it_and_read_back() {
        let b = GetConsumerStatusBody {
            message_queue_table: vec![(mq("T", 0), 3)],
            consumer_table: vec![
                ("10.0.0.1@1".into(), vec![(mq("T", 0), 3), (mq("T", 1), 9)]),
                ("10.0.0.2@7".into(), Vec::new()),
            ],
        };
        let body = b.to_fastjson();
        let q0 = r#"{"brokerName":"broker-a","queueId":0,"topic":"T"}"#;
        let q1 = r#"{"brokerName":"broker-a","queueId":1,"topic":"T"}"#;
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            format!(
                r#"{{"consumerTable":{{"10.0.0.1@1":{{{q0}:3,{q1}:9}},"10.0.0.2@7":{{}}}},"messageQueueTable":{{{q0}:3}}}}"#
            )
        );
        assert_eq!(GetConsumerStatusBody::from_json(&body).unwrap(), b);
    }

    #[test]
    fn an_empty_or_odd_body_is_read_or_refused() {
        assert_eq!(
            GetConsumerStatusBody::from_json(b"{}").unwrap(),
            GetConsumerStatusBody::default()
        );
        assert!(GetConsumerStatusBody::from_json(br#"{"consumerTable":3}"#).is_err());
        assert!(GetConsumerStatusBody::from_json(b"{").is_err());
    }
}
