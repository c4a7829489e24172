//! Forwarding an admin's request to one consumer, as Java's broker does for
//! GET_CONSUMER_RUNNING_INFO (307) and CONSUME_MESSAGE_DIRECTLY (309): the admin asks a broker
//! the consumer sends heartbeats to, and the broker sends the same code, extFields and body down
//! that consumer's connection and answers with whatever the consumer answered.
//!
//! Refusals, in Java's words: the client is not connected here as a consumer of the group
//! (SYSTEM_ERROR "… not online"), its version predates V3_1_8_SNAPSHOT (SYSTEM_ERROR), it did not
//! answer within `CALL_TIMEOUT` (CONSUME_MSG_TIMEOUT), or the call failed (SYSTEM_ERROR).

use std::time::Duration;

use bytes::Bytes;
use courier_remoting::code::response;
use courier_remoting::{ExtFields, ProcessResult, RemotingCommand, RemotingError};

use super::error;
use crate::context::BrokerContext;

/// How long the consumer has to answer (Java's `Broker2Client.callClient`).
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// `MQVersion` ordinal of V3_1_8_SNAPSHOT, the first client version that answers these codes.
const FIRST_ANSWERING_VERSION: i32 = 62;

/// Sends `code` with `fields` and `body` to `client_id` of `group` and answers `req` with the
/// consumer's response.
pub(crate) async fn forward(
    ctx: &BrokerContext,
    req: &RemotingCommand,
    group: &str,
    client_id: &str,
    fields: ExtFields,
    body: Option<Bytes>,
) -> ProcessResult {
    let Some(client) = ctx.consumers.find_channel(group, client_id) else {
        return error(
            req,
            response::SYSTEM_ERROR,
            format!("The Consumer <{group}> <{client_id}> not online"),
        );
    };
    if client.version < FIRST_ANSWERING_VERSION {
        return error(
            req,
            response::SYSTEM_ERROR,
            format!(
                "The Consumer <{client_id}> Version <{}> too low to finish, please upgrade it to V3_1_8_SNAPSHOT",
                client.version
            ),
        );
    }
    let mut call = RemotingCommand::new_request(req.code);
    *call.ext_fields_mut() = fields;
    call.body = body;
    match client.channel.invoke(call, CALL_TIMEOUT).await {
        Ok(mut answer) => {
            // The consumer's response, re-addressed to the admin's request.
            answer.opaque = req.opaque;
            answer.flag = 0;
            answer.mark_response();
            answer.serialize_type = req.serialize_type;
            Ok(Some(answer))
        }
        Err(e @ RemotingError::Timeout { .. }) => error(
            req,
            response::CONSUME_MSG_TIMEOUT,
            format!("consumer <{group}> <{client_id}> Timeout: {e}"),
        ),
        Err(e) => error(
            req,
            response::SYSTEM_ERROR,
            format!("invoke consumer <{group}> <{client_id}> Exception: {e}"),
        ),
    }
}
