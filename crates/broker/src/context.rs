//! `BrokerContext`: everything a request processor needs, shared as `Arc<BrokerContext>` by all
//! connections — the config, the message store, the state tables, the pull hold service and the
//! runtime counters.
//!
//! Invariants: the context is built once by `server::run` after the store finished recovery and
//! the tables were loaded; `shutting_down` is cancelled before the server drains, so processors
//! stop parking pulls and parked ones are woken to answer before the connection closes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use courier_remoting::ConnectionHandle;
use courier_store::MessageStore;
use tokio_util::sync::CancellationToken;

use crate::config::BrokerConfig;
use crate::consumer_manager::ConsumerManager;
use crate::consumer_offset::ConsumerOffsetManager;
use crate::filter::SelectorCache;
use crate::live_config::LiveConfig;
use crate::long_poll::PullHoldService;
use crate::producer_manager::ProducerManager;
use crate::rates::BrokerRates;
use crate::rebalance_lock::RebalanceLockManager;
use crate::schedule::ScheduleService;
use crate::subscription_group::SubscriptionGroupManager;
use crate::topic_config::TopicConfigManager;
use crate::transaction::TransactionService;

/// Counters reported by GET_BROKER_RUNTIME_INFO.
#[derive(Default)]
pub struct BrokerStats {
    /// Messages stored since start.
    pub put_messages: AtomicU64,
    /// Messages returned by pulls since start.
    pub got_messages: AtomicU64,
    /// Pulls that returned messages (Java's getMessageTimesTotalFound).
    pub pulls_found: AtomicU64,
    /// Pulls that returned none, held ones counted at each try (getMessageTimesTotalMiss).
    pub pulls_missed: AtomicU64,
    /// Pulls that were parked (long polling).
    pub held_pulls: AtomicU64,
    /// Pulls whose read went to the disk and so ran on the blocking pool (`pull.rs`).
    pub disk_pulls: AtomicU64,
    /// Background services started again after a panic (`supervise.rs`).
    pub service_restarts: AtomicU64,
}

impl BrokerStats {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// Shared broker state.
pub struct BrokerContext {
    /// The configuration the broker runs with; UPDATE_BROKER_CONFIG changes it (`config()` reads it).
    pub settings: LiveConfig,
    /// The message store.
    pub store: Arc<MessageStore>,
    /// Topic table.
    pub topics: TopicConfigManager,
    /// Subscription group table.
    pub groups: SubscriptionGroupManager,
    /// Committed consumer offsets.
    pub offsets: ConsumerOffsetManager,
    /// Consumer clients.
    pub consumers: ConsumerManager<ConnectionHandle>,
    /// Producer clients.
    pub producers: ProducerManager<ConnectionHandle>,
    /// Orderly consumers' queue locks.
    pub locks: RebalanceLockManager,
    /// Delay levels and their delivery progress.
    pub schedule: Arc<ScheduleService>,
    /// Half-message resolution state.
    pub transactions: Arc<TransactionService>,
    /// Parked pulls.
    pub hold: Arc<PullHoldService>,
    /// Compiled SQL92 selectors of subscriptions.
    pub selectors: SelectorCache,
    /// Runtime counters.
    pub stats: BrokerStats,
    /// Put and consume rates for the admin statistics.
    pub rates: BrokerRates,
    /// Cancelled when the broker begins shutting down.
    pub shutting_down: CancellationToken,
    /// When the broker started.
    pub started: Instant,
    /// When the broker started, in milliseconds since the epoch (`bootTimestamp`).
    pub started_ms: i64,
}

impl BrokerContext {
    /// The configuration now (see `LiveConfig::get`): take it once per request or per round.
    pub fn config(&self) -> arc_swap::Guard<Arc<BrokerConfig>> {
        self.settings.get()
    }

    /// Messages each topic's queues hold in all, as (topic, sum of the queues' max offsets):
    /// the total behind a topic's put rate (`rates.rs`) and its `/metrics` counter.
    pub fn topic_message_totals(&self) -> Vec<(String, u64)> {
        self.topics
            .queue_counts()
            .into_iter()
            .map(|(topic, queues)| {
                let total = (0..queues)
                    .map(|q| self.store.max_offset(&topic, q).max(0) as u64)
                    .sum();
                (topic, total)
            })
            .collect()
    }
}
