//! `PullConsumer`: explicit-offset consumption. The caller lists a topic's
//! queues, pulls from offsets it chooses, and reads/writes the group's offsets
//! on the broker itself. Nothing runs in the background except route refresh;
//! no heartbeat is needed because every pull carries its subscription.

use std::time::Duration;

use courier_remoting::processor::Dispatcher;

use crate::broker_api::{PullRequest, PullResult, PullStatus};
use crate::error::{ClientError, Result};
use crate::instance::ClientInstance;
use crate::message_queue::MessageQueue;
use crate::options::ClientOptions;
use crate::producer::now_ms;
use crate::route::subscribe_queues;
use crate::subscription::{MessageSelector, Subscription};

/// A consumer that pulls from explicit offsets.
pub struct PullConsumer {
    instance: std::sync::Arc<ClientInstance>,
    group: String,
}

impl PullConsumer {
    /// A pull consumer of `group` using the name servers in `options`.
    /// Must be called inside a tokio runtime (it starts the route refresh task).
    pub fn new(options: ClientOptions, group: impl Into<String>) -> Result<Self> {
        let group = group.into();
        if group.is_empty() {
            return Err(ClientError::Config(
                "consumer group must not be empty".into(),
            ));
        }
        let instance = ClientInstance::new(options, Dispatcher::new())?;
        instance.spawn_periodic(instance.options.poll_name_server_interval, |i| {
            i.refresh_routes()
        });
        Ok(PullConsumer { instance, group })
    }

    /// Shorthand: name servers as a ";"-separated list, other settings default.
    pub fn connect(namesrv: &str, group: impl Into<String>) -> Result<Self> {
        let mut o = ClientOptions::default();
        o.set_namesrv(namesrv);
        Self::new(o, group)
    }

    pub fn client_id(&self) -> &str {
        self.instance.client_id()
    }

    /// The readable queues of `topic` (fetches a fresh route).
    pub async fn fetch_queues(&self, topic: &str) -> Result<Vec<MessageQueue>> {
        let route =
            self.instance
                .update_route(topic)
                .await?
                .ok_or_else(|| ClientError::NoRoute {
                    topic: topic.to_string(),
                    reason: "no name server knows it".into(),
                })?;
        Ok(subscribe_queues(&route, topic))
    }

    /// Pulls up to `max` messages of `queue` from `offset`, matching the tag
    /// `expression`, answering at once when there is none.
    pub async fn pull(
        &self,
        queue: &MessageQueue,
        expression: &str,
        offset: i64,
        max: i32,
    ) -> Result<PullResult> {
        self.pull_blocking(queue, expression, offset, max, Duration::ZERO)
            .await
    }

    /// Like `pull`, but an empty queue is held by the broker for up to `suspend`.
    pub async fn pull_blocking(
        &self,
        queue: &MessageQueue,
        expression: &str,
        offset: i64,
        max: i32,
        suspend: Duration,
    ) -> Result<PullResult> {
        let selector = MessageSelector::Tag(expression.to_string());
        self.pull_selected(queue, &selector, offset, max, suspend)
            .await
    }

    /// Pulls with a tag expression or an SQL92 selector (`MessageSelector::by_sql`; the broker
    /// needs `enablePropertyFilter`, and answers a selector that does not compile with
    /// `ClientError::Broker` naming the parse error). An empty queue is held for up to `suspend`.
    pub async fn pull_selected(
        &self,
        queue: &MessageQueue,
        selector: &MessageSelector,
        offset: i64,
        max: i32,
        suspend: Duration,
    ) -> Result<PullResult> {
        if max <= 0 {
            return Err(ClientError::Config(format!(
                "max messages per pull must be at least 1, got {max}"
            )));
        }
        self.ensure_route(&queue.topic).await?;
        let sub = Subscription::with_selector(queue.topic.clone(), selector, now_ms());
        let mut result = self
            .instance
            .pull(PullRequest {
                group: &self.group,
                queue,
                offset,
                max_nums: max,
                expression: &sub.expression,
                expression_type: sub.expression_type(),
                sub_version: sub.version,
                suspend,
                commit_offset: None,
            })
            .await?;
        if result.status == PullStatus::Found {
            result.messages.retain(|m| sub.matches(m.tags()));
        }
        Ok(result)
    }

    /// The group's committed offset of `queue`, if the broker has one.
    pub async fn query_offset(&self, queue: &MessageQueue) -> Result<Option<i64>> {
        self.ensure_route(&queue.topic).await?;
        self.instance
            .query_consumer_offset(&self.group, queue)
            .await
    }

    /// Commits `offset` (the next offset to consume) for the group, waiting for the broker.
    pub async fn update_offset(&self, queue: &MessageQueue, offset: i64) -> Result<()> {
        self.ensure_route(&queue.topic).await?;
        self.instance
            .update_consumer_offset(&self.group, queue, offset, false)
            .await
    }

    /// The offset the queue's next message will get.
    pub async fn max_offset(&self, queue: &MessageQueue) -> Result<i64> {
        self.ensure_route(&queue.topic).await?;
        self.instance.max_offset(queue).await
    }

    /// The smallest offset still stored.
    pub async fn min_offset(&self, queue: &MessageQueue) -> Result<i64> {
        self.ensure_route(&queue.topic).await?;
        self.instance.min_offset(queue).await
    }

    /// Stops the route refresh and closes connections.
    pub async fn shutdown(&self) {
        self.instance.close().await;
    }

    async fn ensure_route(&self, topic: &str) -> Result<()> {
        if self.instance.is_shut_down() {
            return Err(ClientError::ShutDown);
        }
        match self.instance.route(topic).await? {
            Some(_) => Ok(()),
            None => Err(ClientError::NoRoute {
                topic: topic.to_string(),
                reason: "no name server knows it".into(),
            }),
        }
    }
}
