//! Request processors: one module per request code (or per pair of codes that share a header and
//! differ only in key names, like SEND_MESSAGE / SEND_MESSAGE_V2; the few-line admin codes share
//! `admin.rs`, one function each). Each exposes
//! `process(ctx, conn, request) -> ProcessResult`; `register_all` wires them into a dispatcher.
//!
//! Conventions kept by every processor: a missing or malformed required header field returns
//! `Err(ProcessError::Header)`, which the remoting layer answers with SYSTEM_ERROR and Java's text
//! "the custom field <x> is null"; every other refusal is a response with the RocketMQ code and a
//! remark that says what to do. Responses copy the request's opaque (done by the remoting layer).

use std::future::Future;
use std::sync::Arc;

use courier_remoting::code::request;
use courier_remoting::{ConnectionHandle, Dispatcher, ProcessResult, RemotingCommand};

use crate::context::BrokerContext;

pub mod admin;
pub mod broker_consume_stats;
pub mod broker_stats;
pub mod check_client_config;
pub mod clone_group_offset;
pub mod consume_by_who;
pub mod consume_directly;
pub mod consume_stats;
pub mod consume_time_span;
pub mod consumer_connection;
pub mod consumer_list;
pub mod consumer_running_info;
pub mod earliest_msg_storetime;
pub mod end_transaction;
mod forward_to_consumer;
pub mod get_all_topic_config;
pub mod get_consumer_status;
pub mod get_max_offset;
pub mod get_min_offset;
pub mod heartbeat;
pub mod lock_batch;
pub mod pull;
pub mod query_consumer_offset;
pub mod query_message;
pub mod recall_message;
pub mod reset_offset;
pub mod runtime_info;
pub mod search_offset;
pub mod send;
pub mod send_msg_back;
pub mod send_reply;
pub mod system_topics;
pub mod topic_stats;
pub mod unlock_batch;
pub mod unregister_client;
pub mod update_broker_config;
pub mod update_consumer_offset;
pub mod update_subscription_group;
pub mod update_topic;
pub mod view_message;

/// A response with `code` and `remark` to `req`.
pub(crate) fn error(req: &RemotingCommand, code: i32, remark: impl Into<String>) -> ProcessResult {
    Ok(Some(RemotingCommand::error_to(req, code, remark)))
}

pub(crate) use crate::blocking::off_the_runtime;

/// A copy of the CommitLog record at `offset` (`None`: no record there), read off the async
/// worker: any record however old, which may have to come from disk. `Err` is the answer to
/// `req` when the broker is shutting down and refused the blocking read.
pub(crate) async fn record_off_the_runtime(
    ctx: &BrokerContext,
    req: &RemotingCommand,
    offset: i64,
) -> Result<Option<bytes::Bytes>, ProcessResult> {
    let store = Arc::clone(&ctx.store);
    off_the_runtime(move || {
        store
            .message_by_phys_offset(offset)
            .map(|r| bytes::Bytes::copy_from_slice(&r))
    })
    .await
    .ok_or_else(|| shutting_down(req))
}

/// The answer when `off_the_runtime` was refused.
pub(crate) fn shutting_down(req: &RemotingCommand) -> ProcessResult {
    error(
        req,
        courier_remoting::code::response::SYSTEM_BUSY,
        "the broker is shutting down; retry on another broker",
    )
}

fn wire<F, Fut>(d: &mut Dispatcher, codes: &[i32], ctx: &Arc<BrokerContext>, f: F)
where
    F: Fn(Arc<BrokerContext>, ConnectionHandle, RemotingCommand) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ProcessResult> + Send + 'static,
{
    let ctx = ctx.clone();
    let f = Arc::new(f);
    d.register_all(
        codes,
        Arc::new(move |conn: ConnectionHandle, req: RemotingCommand| {
            let ctx = ctx.clone();
            let f = f.clone();
            async move { f(ctx, conn, req).await }
        }),
    );
}

/// Registers every broker processor.
pub fn register_all(d: &mut Dispatcher, ctx: &Arc<BrokerContext>) {
    wire(
        d,
        &[
            request::SEND_MESSAGE,
            request::SEND_MESSAGE_V2,
            request::SEND_BATCH_MESSAGE,
        ],
        ctx,
        send::process,
    );
    wire(
        d,
        &[request::PULL_MESSAGE, request::LITE_PULL_MESSAGE],
        ctx,
        pull::process,
    );
    wire(
        d,
        &[request::SEND_REPLY_MESSAGE, request::SEND_REPLY_MESSAGE_V2],
        ctx,
        send_reply::process,
    );
    wire(d, &[request::RECALL_MESSAGE], ctx, recall_message::process);
    wire(
        d,
        &[request::CHECK_CLIENT_CONFIG],
        ctx,
        check_client_config::process,
    );
    wire(
        d,
        &[request::QUERY_CONSUMER_OFFSET],
        ctx,
        query_consumer_offset::process,
    );
    wire(
        d,
        &[request::UPDATE_CONSUMER_OFFSET],
        ctx,
        update_consumer_offset::process,
    );
    wire(d, &[request::GET_MAX_OFFSET], ctx, get_max_offset::process);
    wire(d, &[request::GET_MIN_OFFSET], ctx, get_min_offset::process);
    wire(
        d,
        &[request::SEARCH_OFFSET_BY_TIMESTAMP],
        ctx,
        search_offset::process,
    );
    wire(
        d,
        &[request::GET_EARLIEST_MSG_STORETIME],
        ctx,
        earliest_msg_storetime::process,
    );
    wire(d, &[request::HEART_BEAT], ctx, heartbeat::process);
    wire(
        d,
        &[request::UNREGISTER_CLIENT],
        ctx,
        unregister_client::process,
    );
    wire(
        d,
        &[request::GET_CONSUMER_LIST_BY_GROUP],
        ctx,
        consumer_list::process,
    );
    wire(
        d,
        &[request::VIEW_MESSAGE_BY_ID],
        ctx,
        view_message::process,
    );
    wire(d, &[request::QUERY_MESSAGE], ctx, query_message::process);
    wire(
        d,
        &[request::UPDATE_AND_CREATE_TOPIC],
        ctx,
        update_topic::process,
    );
    wire(
        d,
        &[request::GET_ALL_TOPIC_CONFIG],
        ctx,
        get_all_topic_config::process,
    );
    wire(
        d,
        &[request::GET_BROKER_RUNTIME_INFO],
        ctx,
        runtime_info::process,
    );
    wire(
        d,
        &[request::GET_CONSUMER_CONNECTION_LIST],
        ctx,
        consumer_connection::process,
    );
    wire(
        d,
        &[request::CONSUMER_SEND_MSG_BACK],
        ctx,
        send_msg_back::process,
    );
    wire(
        d,
        &[request::END_TRANSACTION],
        ctx,
        end_transaction::process,
    );
    wire(
        d,
        &[request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG],
        ctx,
        admin::all_subscription_groups,
    );
    wire(
        d,
        &[request::DELETE_SUBSCRIPTIONGROUP],
        ctx,
        admin::delete_subscription_group,
    );
    wire(
        d,
        &[request::DELETE_TOPIC_IN_BROKER],
        ctx,
        admin::delete_topic,
    );
    wire(
        d,
        &[request::GET_ALL_CONSUMER_OFFSET],
        ctx,
        admin::all_consumer_offsets,
    );
    wire(
        d,
        &[request::GET_ALL_DELAY_OFFSET],
        ctx,
        admin::all_delay_offsets,
    );
    wire(d, &[request::GET_TOPIC_CONFIG], ctx, admin::topic_config);
    wire(d, &[request::GET_BROKER_CONFIG], ctx, admin::broker_config);
    wire(
        d,
        &[request::INVOKE_BROKER_TO_GET_CONSUMER_STATUS],
        ctx,
        get_consumer_status::process,
    );
    wire(
        d,
        &[request::UPDATE_BROKER_CONFIG],
        ctx,
        update_broker_config::process,
    );
    wire(
        d,
        &[request::GET_PRODUCER_CONNECTION_LIST],
        ctx,
        admin::producer_connections,
    );
    wire(
        d,
        &[request::GET_TOPIC_STATS_INFO],
        ctx,
        topic_stats::process,
    );
    wire(
        d,
        &[request::GET_CONSUME_STATS],
        ctx,
        consume_stats::process,
    );
    wire(
        d,
        &[request::GET_SYSTEM_TOPIC_LIST_FROM_BROKER],
        ctx,
        system_topics::process,
    );
    wire(
        d,
        &[request::QUERY_CONSUME_TIME_SPAN],
        ctx,
        consume_time_span::process,
    );
    wire(
        d,
        &[request::CLONE_GROUP_OFFSET],
        ctx,
        clone_group_offset::process,
    );
    wire(
        d,
        &[request::VIEW_BROKER_STATS_DATA],
        ctx,
        broker_stats::process,
    );
    wire(
        d,
        &[request::GET_BROKER_CONSUME_STATS],
        ctx,
        broker_consume_stats::process,
    );
    wire(
        d,
        &[request::INVOKE_BROKER_TO_RESET_OFFSET],
        ctx,
        reset_offset::process,
    );
    wire(
        d,
        &[request::QUERY_TOPIC_CONSUME_BY_WHO],
        ctx,
        consume_by_who::groups_of_topic,
    );
    wire(
        d,
        &[request::QUERY_TOPICS_BY_CONSUMER],
        ctx,
        consume_by_who::topics_of_group,
    );
    wire(
        d,
        &[request::GET_CONSUMER_RUNNING_INFO],
        ctx,
        consumer_running_info::process,
    );
    wire(
        d,
        &[request::CONSUME_MESSAGE_DIRECTLY],
        ctx,
        consume_directly::process,
    );
    wire(d, &[request::LOCK_BATCH_MQ], ctx, lock_batch::process);
    wire(d, &[request::UNLOCK_BATCH_MQ], ctx, unlock_batch::process);
    wire(
        d,
        &[request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP],
        ctx,
        update_subscription_group::process,
    );
}
