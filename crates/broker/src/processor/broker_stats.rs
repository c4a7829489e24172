//! VIEW_BROKER_STATS_DATA (315): one of the broker's statistics over the last minute, hour and
//! day — what `mqadmin statsAll` reads for a topic's and a group's messages in the last 24 hours.
//! Courier keeps the two it asks for, from the sampled totals of `rates.rs`:
//! `TOPIC_PUT_NUMS` (key: the topic) and `GROUP_GET_NUMS` (key: `topic@group`; messages the group
//! committed), and the two the RocketMQ dashboard charts a broker by: `BROKER_PUT_NUMS` and
//! `BROKER_GET_NUMS` (key: the broker's cluster name; messages stored, and returned by pulls,
//! by the whole broker). Any other name, or a key never sampled, is Java's SYSTEM_ERROR
//! "The stats <name> <key> not exist". `avgpt` (messages per request in Java) is 0: the totals
//! carry no request counts.

use std::sync::Arc;

use courier_remoting::body::{to_json, BrokerStatsData, BrokerStatsItem};
use courier_remoting::code::response;
use courier_remoting::header::ViewBrokerStatsDataRequestHeader;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::error;
use crate::context::BrokerContext;
use crate::rates::{Span, SpanFigures};

/// Java's name of the messages put into a topic.
pub const TOPIC_PUT_NUMS: &str = "TOPIC_PUT_NUMS";
/// Java's name of the messages a group got from a topic.
pub const GROUP_GET_NUMS: &str = "GROUP_GET_NUMS";
/// Java's name of the messages the whole broker stored (key: its cluster's name).
pub const BROKER_PUT_NUMS: &str = "BROKER_PUT_NUMS";
/// Java's name of the messages the whole broker's pulls returned (key: its cluster's name).
pub const BROKER_GET_NUMS: &str = "BROKER_GET_NUMS";

/// Handles VIEW_BROKER_STATS_DATA.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let h: ViewBrokerStatsDataRequestHeader = req.decode_header()?;
    let of = |span| match h.stats_name.as_str() {
        TOPIC_PUT_NUMS => ctx.rates.topic_puts.figures(&h.stats_key, span),
        BROKER_PUT_NUMS => ctx.rates.broker_puts.figures(&h.stats_key, span),
        BROKER_GET_NUMS => ctx.rates.broker_gets.figures(&h.stats_key, span),
        GROUP_GET_NUMS => {
            // Java's key: topic@group (a topic has no '@'; a group name may).
            let (topic, group) = h.stats_key.split_once('@')?;
            let key = (group.to_string(), topic.to_string());
            ctx.rates.group_consumes.figures(&key, span)
        }
        _ => None,
    };
    let (Some(minute), Some(hour), Some(day)) = (of(Span::Minute), of(Span::Hour), of(Span::Day))
    else {
        return error(
            &req,
            response::SYSTEM_ERROR,
            format!("The stats <{}> <{}> not exist", h.stats_name, h.stats_key),
        );
    };
    let item = |f: SpanFigures| BrokerStatsItem {
        avgpt: 0.0,
        sum: i64::try_from(f.sum).unwrap_or(i64::MAX),
        tps: f.per_second,
    };
    let data = BrokerStatsData {
        stats_day: item(day),
        stats_hour: item(hour),
        stats_minute: item(minute),
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(to_json(&data)),
    ))
}
