//! `run`: opens the store, loads the state tables, serves the remoting protocol on the given
//! listener, registers with the name servers, and shuts down gracefully.
//!
//! Startup order: validate config → open the store (recovery, on a blocking thread) → load
//! topics/groups/offsets → hook the store's arrival listener to the pull hold service and the
//! consumer manager's group-changed listener to NOTIFY_CONSUMER_IDS_CHANGED → start background
//! tasks (offset persistence every `flushConsumerOffsetInterval`, client expiry scan every 10 s,
//! name server registration) → serve.
//!
//! Shutdown order (when `shutdown` is cancelled): stop accepting; parked pulls resume and answer;
//! in-flight requests finish and connections close; background tasks stop (registration sends
//! UNREGISTER_BROKER); offsets, topics and groups are persisted; `store.shutdown()` flushes and
//! writes the clean-shutdown checkpoint. Errors while persisting are returned after the store was
//! still shut down, so a failed config write never skips the store's clean shutdown.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use courier_remoting::code::request;
use courier_remoting::header::NotifyConsumerIdsChangedRequestHeader;
use courier_remoting::{ConnectionHandle, Dispatcher, RemotingCommand, ServerConfig};
use courier_store::MessageStore;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::BrokerConfig;
use crate::consumer_manager::ConsumerManager;
use crate::consumer_offset::ConsumerOffsetManager;
use crate::context::{BrokerContext, BrokerStats};
use crate::error::BrokerError;
use crate::filter::SelectorCache;
use crate::live_config::LiveConfig;
use crate::long_poll::PullHoldService;
use crate::producer_manager::ProducerManager;
use crate::rebalance_lock::RebalanceLockManager;
use crate::schedule::ScheduleService;
use crate::subscription_group::SubscriptionGroupManager;
use crate::supervise::supervise;
use crate::topic_config::TopicConfigManager;
use crate::transaction::TransactionService;
use crate::{processor, registration};

const CLIENT_SCAN_INTERVAL: Duration = Duration::from_secs(10);

/// Opens the store and the state tables (blocking work runs off the async workers).
pub async fn open(config: BrokerConfig) -> Result<Arc<BrokerContext>, BrokerError> {
    config.validate()?;
    let store_config = config.store_config();
    let store = tokio::task::spawn_blocking(move || MessageStore::open(store_config))
        .await
        .map_err(|e| BrokerError::Store(format!("store open task failed: {e}")))?
        .map_err(|e| BrokerError::Store(e.to_string()))?;
    let report = store.recovery_report();
    tracing::info!(
        clean = report.clean_shutdown,
        truncated = report.truncated_bytes,
        corrupt = report.corrupt.len(),
        "message store opened"
    );
    let topics = TopicConfigManager::load(&config)?;
    let groups = SubscriptionGroupManager::load(&config)?;
    let offsets = ConsumerOffsetManager::load(&config)?;
    let levels =
        crate::schedule::parse_delay_levels(&config.message_delay_level).map_err(|reason| {
            BrokerError::ConfigValue {
                key: "messageDelayLevel",
                reason,
            }
        })?;
    let schedule = ScheduleService::load(config.config_dir(), levels)?;
    let transactions = TransactionService::load(&store);
    let hold = PullHoldService::new(config.max_held_pull_requests);
    let ctx = Arc::new(BrokerContext {
        store: Arc::new(store),
        topics,
        groups,
        offsets,
        consumers: ConsumerManager::new(),
        producers: ProducerManager::new(),
        locks: RebalanceLockManager::default(),
        schedule: Arc::new(schedule),
        transactions: Arc::new(transactions),
        hold: hold.clone(),
        selectors: SelectorCache::default(),
        stats: BrokerStats::default(),
        rates: Default::default(),
        shutting_down: CancellationToken::new(),
        started: Instant::now(),
        started_ms: crate::topic_config::now_ms(),
        settings: LiveConfig::new(config),
    });
    ctx.store
        .set_arrival_listener(Arc::new(move |topic, queue, offset, tags, properties| {
            hold.notify_arrival(topic, queue, offset, tags, properties);
        }));
    let weak: Weak<BrokerContext> = Arc::downgrade(&ctx);
    ctx.consumers.set_group_changed_listener(Arc::new(
        move |group: &str, channels: Vec<ConnectionHandle>| {
            let Some(ctx) = weak.upgrade() else { return };
            let enabled = ctx
                .groups
                .get(group)
                .map(|g| g.notify_consumer_ids_changed_enable)
                .unwrap_or(true);
            if !enabled {
                return;
            }
            let Ok(rt) = tokio::runtime::Handle::try_current() else {
                return;
            };
            for ch in channels {
                let header = NotifyConsumerIdsChangedRequestHeader {
                    consumer_group: group.to_string(),
                };
                rt.spawn(async move {
                    let cmd = RemotingCommand::request_with_header(
                        request::NOTIFY_CONSUMER_IDS_CHANGED,
                        &header,
                    );
                    if let Err(e) = ch.invoke_oneway(cmd).await {
                        tracing::debug!(error = %e, "NOTIFY_CONSUMER_IDS_CHANGED not delivered");
                    }
                });
            }
        },
    ));
    Ok(ctx)
}

/// Persists offsets, topics and groups, then shuts the store down.
pub async fn close(ctx: &Arc<BrokerContext>) -> Result<(), BrokerError> {
    let mut first_err = ctx.offsets.persist().err();
    if let Err(e) = ctx.schedule.persist() {
        first_err.get_or_insert(e);
    }
    if let Err(e) = ctx.topics.persist() {
        first_err.get_or_insert(e);
    }
    if let Err(e) = ctx.groups.persist() {
        first_err.get_or_insert(e);
    }
    let store = ctx.store.clone();
    let stopped = tokio::task::spawn_blocking(move || store.shutdown())
        .await
        .map_err(|e| BrokerError::Store(format!("store shutdown task failed: {e}")))?;
    stopped.map_err(|e| BrokerError::Store(e.to_string()))?;
    match first_err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Runs the broker on `listener` until `shutdown` is cancelled, then shuts down gracefully.
pub async fn run(
    config: BrokerConfig,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> Result<(), BrokerError> {
    run_on(config, vec![listener], shutdown).await
}

/// Like `run`, serving the same broker on several listeners — e.g. `listenPort` and the "VIP"
/// port `listenPort - 2` that RocketMQ 4.2–4.5 clients send to when `vipChannelEnabled` is on.
pub async fn run_on(
    config: BrokerConfig,
    listeners: Vec<TcpListener>,
    shutdown: CancellationToken,
) -> Result<(), BrokerError> {
    let ctx = open(config).await?;
    serve_all(ctx.clone(), listeners, shutdown).await;
    close(&ctx).await
}

/// Serves requests and runs the background tasks until `shutdown` is cancelled (store stays open).
pub async fn serve(ctx: Arc<BrokerContext>, listener: TcpListener, shutdown: CancellationToken) {
    serve_all(ctx, vec![listener], shutdown).await
}

/// `serve` on several listeners sharing one dispatcher and one set of background tasks.
pub async fn serve_all(
    ctx: Arc<BrokerContext>,
    listeners: Vec<TcpListener>,
    shutdown: CancellationToken,
) {
    let mut dispatcher = Dispatcher::new();
    processor::register_all(&mut dispatcher, &ctx);
    let dispatcher = Arc::new(dispatcher);

    let background = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    // Each background service runs under `supervise`: a panic is logged, counted and the service
    // started again, instead of the broker going on without it.
    let service = |name: &'static str,
                   run: fn(Arc<BrokerContext>, CancellationToken) -> BoxFuture| {
        let (ctx, token) = (ctx.clone(), background.clone());
        async move {
            let restarts = &ctx.stats.service_restarts;
            supervise(name, token.clone(), restarts, || {
                run(ctx.clone(), token.clone())
            })
            .await
        }
    };
    tasks.spawn(service("consumer-offset-persist", |ctx, token| {
        Box::pin(persist_offsets(ctx, token))
    }));
    tasks.spawn(service("rate-sample", |ctx, token| {
        Box::pin(sample_rates(ctx, token))
    }));
    tasks.spawn(service("idle-client-scan", |ctx, token| {
        Box::pin(scan_idle_clients(ctx, token))
    }));
    tasks.spawn(service("namesrv-registration", |ctx, token| {
        Box::pin(registration::run(ctx, token))
    }));
    tasks.spawn(service("transaction-check", |ctx, token| {
        Box::pin(ctx.transactions.clone().run(ctx.clone(), token))
    }));
    tasks.spawn(service("delay-schedule", |ctx, token| {
        Box::pin(ctx.schedule.clone().run(ctx.store.clone(), token))
    }));
    {
        let ctx = ctx.clone();
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            shutdown.cancelled().await;
            ctx.shutting_down.cancel();
        });
    }

    let mut servers = tokio::task::JoinSet::new();
    for listener in listeners {
        let conn_ctx = ctx.clone();
        servers.spawn(courier_remoting::serve_with(
            listener,
            dispatcher.clone(),
            ServerConfig::default(),
            shutdown.clone(),
            move |conn: &ConnectionHandle| {
                let ctx = conn_ctx.clone();
                let conn = conn.clone();
                tokio::spawn(async move {
                    conn.closed().await;
                    ctx.consumers.channel_closed(conn.id());
                    ctx.producers.channel_closed(conn.id());
                });
            },
        ));
    }
    while servers.join_next().await.is_some() {}
    ctx.shutting_down.cancel();
    background.cancel();
    while tasks.join_next().await.is_some() {}
}

/// A background service's future (see `supervise`).
type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Writes the consumer offsets table every `flushConsumerOffsetInterval`.
async fn persist_offsets(ctx: Arc<BrokerContext>, token: CancellationToken) {
    loop {
        let period = Duration::from_millis(ctx.config().flush_consumer_offset_interval.max(100));
        tokio::select! {
            _ = token.cancelled() => break,
            _ = tokio::time::sleep(period) => {}
        }
        // An fsync and two renames: on a busy disk tens of milliseconds that the async worker
        // would otherwise not serve requests in.
        let c = Arc::clone(&ctx);
        if let Some(Err(e)) = crate::blocking::off_the_runtime(move || c.offsets.persist()).await {
            tracing::warn!(error = %e, "persisting consumer offsets failed; will retry");
        }
    }
}

/// Samples the totals behind the admin statistics' rates (`rates.rs`) every `SAMPLE_EVERY`.
async fn sample_rates(ctx: Arc<BrokerContext>, token: CancellationToken) {
    loop {
        let now = Instant::now();
        ctx.rates.topic_puts.sample(ctx.topic_message_totals(), now);
        ctx.rates.group_consumes.sample(ctx.offsets.totals(), now);
        sample_broker_totals(&ctx, now);
        tokio::select! {
            _ = token.cancelled() => break,
            _ = tokio::time::sleep(crate::rates::SAMPLE_EVERY) => {}
        }
    }
}

/// Samples the broker-wide counters: `BROKER_PUT_NUMS` / `BROKER_GET_NUMS` and the found and
/// missed pulls (keyed by the cluster's name, as Java keys them), and the midnight totals.
fn sample_broker_totals(ctx: &BrokerContext, now: Instant) {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let s = &ctx.stats;
    let (put, got) = (load(&s.put_messages), load(&s.got_messages));
    let cluster = ctx.config().broker_cluster_name.clone();
    let r = &ctx.rates;
    for (table, total) in [
        (&r.broker_puts, put),
        (&r.broker_gets, got),
        (&r.broker_pulls_found, load(&s.pulls_found)),
        (&r.broker_pulls_missed, load(&s.pulls_missed)),
    ] {
        table.sample([(cluster.clone(), total)], now);
    }
    let day = crate::broker_totals::utc_day(crate::topic_config::now_ms());
    r.mornings.record(day, put, got);
}

/// Drops consumers and producers silent for longer than `channelExpiredTimeout`.
async fn scan_idle_clients(ctx: Arc<BrokerContext>, token: CancellationToken) {
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            _ = tokio::time::sleep(CLIENT_SCAN_INTERVAL) => {}
        }
        let timeout = Duration::from_millis(ctx.config().channel_expired_timeout);
        let now = Instant::now();
        ctx.consumers.scan_not_active(now, timeout);
        ctx.producers.scan_not_active(now, timeout);
    }
}
