//! Taking a broker's write permission away in the name servers' routes, and giving it back
//! (WIPE_WRITE_PERM_OF_BROKER, ADD_WRITE_PERM_OF_BROKER: `mqadmin wipeWritePerm`,
//! `addWritePerm`). Producers stop choosing a wiped broker's queues at their next route refresh
//! (30 s at most) while its consumers keep draining it: the first step of taking a broker out of
//! service. Each name server keeps its own routes, so every one of them is asked.
//!
//! The change lives in the name servers only. A broker's next registration with a changed topic
//! table (a topic created or updated on it) carries its own permissions again; for a wipe that
//! must outlast that, set the broker's `brokerPermission` (UPDATE_BROKER_CONFIG), which every
//! registration applies.

use courier_remoting::code::request;
use courier_remoting::header::{
    AddWritePermOfBrokerRequestHeader, AddWritePermOfBrokerResponseHeader,
    WipeWritePermOfBrokerRequestHeader, WipeWritePermOfBrokerResponseHeader,
};
use courier_remoting::RemotingCommand;

use super::Admin;
use crate::error::{decode_failed, ClientError, Result};

/// What one name server did with a write-permission change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PermChange {
    /// The name server's address.
    pub namesrv: String,
    /// How many of the broker's topics it changed (its `wipeTopicCount` / `addTopicCount`).
    pub topics: i32,
}

impl Admin {
    /// Clears (`wipe`) or restores the write permission of every queue broker `broker_name`
    /// has in the routes of each name server. A broker name no name server knows is refused
    /// with the names they do know; a name server that fails is an error (the ones before it
    /// have changed already, and asking again is harmless).
    pub async fn change_write_perm(
        &self,
        broker_name: &str,
        wipe: bool,
    ) -> Result<Vec<PermChange>> {
        let info = self.cluster_info().await?;
        if !info.broker_addr_table.contains_key(broker_name) {
            let known: Vec<&str> = info.broker_addr_table.keys().map(String::as_str).collect();
            return Err(ClientError::Refused(format!(
                "no broker named {broker_name} is registered (known brokers: {}); `courier mqadmin cluster-list` shows them",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )));
        }
        let mut changes = Vec::new();
        for addr in &self.instance.options.namesrv_addrs {
            let cmd = if wipe {
                RemotingCommand::request_with_header(
                    request::WIPE_WRITE_PERM_OF_BROKER,
                    &WipeWritePermOfBrokerRequestHeader {
                        broker_name: broker_name.to_string(),
                    },
                )
            } else {
                RemotingCommand::request_with_header(
                    request::ADD_WRITE_PERM_OF_BROKER,
                    &AddWritePermOfBrokerRequestHeader {
                        broker_name: broker_name.to_string(),
                    },
                )
            };
            let resp = self
                .instance
                .invoke_ok(addr, cmd, self.instance.options.request_timeout)
                .await?;
            let topics = if wipe {
                resp.decode_header::<WipeWritePermOfBrokerResponseHeader>()
                    .map(|h| h.wipe_topic_count)
            } else {
                resp.decode_header::<AddWritePermOfBrokerResponseHeader>()
                    .map(|h| h.add_topic_count)
            }
            .map_err(decode_failed("write permission answer"))?;
            changes.push(PermChange {
                namesrv: addr.clone(),
                topics,
            });
        }
        Ok(changes)
    }
}
