//! GET_BROKER_CONSUME_STATS (317): every consumer group's progress on this broker at once —
//! `mqadmin brokerConsumeStats`, and what the RocketMQ exporter scrapes for lag. As Java's
//! broker builds it: for each subscription group, each topic it has committed offsets for that
//! still exists (only ordered topics with header `isOrder=true`), leaving out topics its online
//! consumers do not subscribe to (when any are online); per topic a `ConsumeStats` over the
//! topic's write queues (see `consume_stats.rs`), and the diffs summed in `totalDiff`.

use std::sync::Arc;

use courier_remoting::body::{ConsumeStats, ConsumeStatsList};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::consume_stats::progress;
use super::{off_the_runtime, shutting_down};
use crate::context::BrokerContext;

/// A topic of a group to report: its name, write queues and the group's consume rate on it.
type TopicPlan = (String, i32, f64);

/// Handles GET_BROKER_CONSUME_STATS (header `isOrder`).
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let only_ordered = req
        .ext_field("isOrder")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut groups = ctx.groups.names();
    groups.sort();
    // Decided on the runtime; the store is read off it.
    let plan: Vec<(String, Vec<TopicPlan>)> = groups
        .into_iter()
        .map(|group| {
            let online = ctx.consumers.snapshot(&group);
            let mut topics = ctx.offsets.topics_of_group(&group);
            topics.sort();
            let topics = topics
                .into_iter()
                .filter_map(|topic| {
                    let config = ctx.topics.get(&topic)?;
                    if only_ordered && !config.order {
                        return None;
                    }
                    if let Some(o) = &online {
                        let subscribed = o.subscriptions.iter().any(|s| s.topic == topic);
                        if !o.subscriptions.is_empty() && !subscribed {
                            return None;
                        }
                    }
                    let key = (group.clone(), topic.clone());
                    let tps = ctx.rates.group_consumes.per_second(&key);
                    Some((topic, config.write_queue_nums, tps))
                })
                .collect();
            (group, topics)
        })
        .collect();
    let ctx2 = Arc::clone(&ctx);
    let Some(consume_stats_list) = off_the_runtime(move || {
        plan.into_iter()
            .map(|(group, topics)| {
                let stats = topics
                    .into_iter()
                    .map(|(topic, queues, consume_tps)| ConsumeStats {
                        consume_tps,
                        offset_table: progress(&ctx2, &group, &topic, queues),
                    })
                    .collect();
                (group, stats)
            })
            .collect::<Vec<(String, Vec<ConsumeStats>)>>()
    })
    .await
    else {
        return shutting_down(&req);
    };
    let total_diff = consume_stats_list
        .iter()
        .flat_map(|(_, stats)| stats)
        .map(ConsumeStats::total_diff)
        .sum();
    let body = ConsumeStatsList {
        broker_addr: ctx.config().broker_addr().to_string(),
        consume_stats_list,
        total_diff,
        total_inflight_diff: 0,
    };
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(body.to_fastjson()),
    ))
}
