//! GET_BROKER_RUNTIME_INFO (28): a KVTable (`{"table":{...}}`) of runtime figures, using the key
//! names Java admin tools display (msgPutTotalTodayNow, commitLogMaxOffset, ...). The totals are
//! since broker start, not since midnight, as in Java; the `...TodayMorning` and
//! `...YesterdayMorning` totals and the `...Tps` triples (from the broker-wide rate tables of
//! `rates.rs`) are `broker_totals.rs`'s. `putMessageDistributeTime` and `putMessageEntireTimeMax`
//! are the store's put latency, as Java's store reports them.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use courier_remoting::body::to_json;
use courier_remoting::body::KvTable;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use crate::broker_totals::triple;
use crate::context::BrokerContext;

/// Handles GET_BROKER_RUNTIME_INFO.
pub async fn process(
    ctx: Arc<BrokerContext>,
    _conn: ConnectionHandle,
    req: RemotingCommand,
) -> ProcessResult {
    let mut t = KvTable::default();
    let mut put = |k: &str, v: String| {
        t.table.insert(k.to_string(), v);
    };
    let puts = ctx.stats.put_messages.load(Ordering::Relaxed);
    let gets = ctx.stats.got_messages.load(Ordering::Relaxed);
    put("brokerVersionDesc", "V4_9_4".into());
    put("brokerVersion", "401".into());
    put("brokerName", ctx.config().broker_name.clone());
    put(
        "brokerClusterName",
        ctx.config().broker_cluster_name.clone(),
    );
    put("msgPutTotalTodayNow", puts.to_string());
    put("msgGetTotalTodayNow", gets.to_string());
    put("msgPutTotalSinceStart", puts.to_string());
    put("msgGetTotalSinceStart", gets.to_string());
    let mornings = ctx.rates.mornings.mornings();
    put("msgPutTotalTodayMorning", mornings.put_today.to_string());
    put(
        "msgPutTotalYesterdayMorning",
        mornings.put_yesterday.to_string(),
    );
    put("msgGetTotalTodayMorning", mornings.got_today.to_string());
    put(
        "msgGetTotalYesterdayMorning",
        mornings.got_yesterday.to_string(),
    );
    // The rates over the last 10 s, minute and 10 minutes, from the broker-wide tables.
    let cluster = ctx.config().broker_cluster_name.clone();
    let r = &ctx.rates;
    let found = |span| r.broker_pulls_found.rate_over(&cluster, span);
    let missed = |span| r.broker_pulls_missed.rate_over(&cluster, span);
    put(
        "putTps",
        triple(|span| r.broker_puts.rate_over(&cluster, span)),
    );
    put("getFoundTps", triple(found));
    put("getMissTps", triple(missed));
    put("getTotalTps", triple(|span| found(span) + missed(span)));
    let transferred = triple(|span| r.broker_gets.rate_over(&cluster, span));
    // RocketMQ 4 spells it without the second r; 5 with it. Tools read one or the other.
    put("getTransferedTps", transferred.clone());
    put("getTransferredTps", transferred);
    put("putMessageTimesTotal", puts.to_string());
    // The store's put latency (`put_latency.rs`): Java's bands over the current minute, and the
    // longest put since start in ms.
    let latency = ctx.store.put_latency();
    put("putMessageDistributeTime", latency.distribution_text());
    put("putMessageEntireTimeMax", latency.max_ms.to_string());
    put("brokerActive", "true".into());
    put("bootTimestamp", ctx.started_ms.to_string());
    put(
        "commitLogMaxOffset",
        ctx.store.max_phys_offset().to_string(),
    );
    put(
        "commitLogMinOffset",
        ctx.store.min_phys_offset().to_string(),
    );
    put(
        "flushedPhysOffset",
        ctx.store.flushed_phys_offset().to_string(),
    );
    put(
        "remainHowManyDataToFlush",
        (ctx.store.max_phys_offset() - ctx.store.flushed_phys_offset())
            .max(0)
            .to_string(),
    );
    put("heldPullRequests", ctx.hold.held_count().to_string());
    put(
        "heldPullRequestsTotal",
        ctx.stats.held_pulls.load(Ordering::Relaxed).to_string(),
    );
    // Courier's own: pulls that read from the disk, on the blocking pool (pull.rs).
    put(
        "diskPullsTotal",
        ctx.stats.disk_pulls.load(Ordering::Relaxed).to_string(),
    );
    put(
        "serviceRestarts",
        ctx.stats
            .service_restarts
            .load(Ordering::Relaxed)
            .to_string(),
    );
    put("topicCount", ctx.topics.len().to_string());
    put(
        "runtime",
        format!("[ {} seconds ]", ctx.started.elapsed().as_secs()),
    );
    Ok(Some(
        RemotingCommand::success_to(&req).with_body(to_json(&t)),
    ))
}
