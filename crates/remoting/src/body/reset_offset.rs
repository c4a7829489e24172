//! The offset reset body: the answer to INVOKE_BROKER_TO_RESET_OFFSET (222), and the body of
//! the broker's RESET_CONSUMER_CLIENT_OFFSET (220) to clients — `{"offsetTable":{<queue>:12}}`,
//! keyed by message queue in fastjson's form (`queue_map`).

use super::queue_map::{read_body, write_body};
use super::{BodyError, MessageQueue};

/// Where a reset moved each queue.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResetOffsetBody {
    pub offset_table: Vec<(MessageQueue, i64)>,
}

impl ResetOffsetBody {
    /// The body as Java writes it.
    pub fn to_fastjson(&self) -> Vec<u8> {
        write_body(&self.offset_table, None)
    }

    /// Reads a body in Java's form (or with the keys as JSON-text strings).
    pub fn from_json(bytes: &[u8]) -> Result<Self, BodyError> {
        let (offset_table, _) = read_body(bytes, None)?;
        Ok(ResetOffsetBody { offset_table })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_as_java_writes_it_and_read_back() {
        let b = ResetOffsetBody {
            offset_table: vec![(
                MessageQueue {
                    topic: "T".into(),
                    broker_name: "broker-a".into(),
                    queue_id: 2,
                },
                17,
            )],
        };
        let body = b.to_fastjson();
        assert_eq!(
            std::str::from_utf8(&body).unwrap(),
            r#"{"offsetTable":{{"brokerName":"broker-a","queueId":2,"topic":"T"}:17}}"#
        );
        assert_eq!(ResetOffsetBody::from_json(&body).unwrap(), b);
    }
}
