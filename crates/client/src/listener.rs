//! The push consumer's listener contract: it gets a batch of messages (size
//! `consume_batch_max`, 1 by default) and answers `Success` (the batch is done,
//! its offsets may be committed) or `Later` (redeliver after a delay). Calls run
//! concurrently, up to the consumer's `consume_concurrency`. Any
//! `Fn(Vec<MessageExt>) -> impl Future<Output = ConsumeResult>` closure is a
//! listener.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::message_ext::MessageExt;

/// A listener's verdict on a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumeResult {
    /// Consumed; the offsets may move past the batch.
    Success,
    /// Not consumed now; deliver the batch again later.
    Later,
}

/// The future a listener returns.
pub type ConsumeFuture = Pin<Box<dyn Future<Output = ConsumeResult> + Send + 'static>>;

/// Consumes messages for a push consumer.
pub trait MessageListener: Send + Sync + 'static {
    fn consume(&self, messages: Vec<MessageExt>) -> ConsumeFuture;
}

impl<F, Fut> MessageListener for F
where
    F: Fn(Vec<MessageExt>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ConsumeResult> + Send + 'static,
{
    fn consume(&self, messages: Vec<MessageExt>) -> ConsumeFuture {
        Box::pin(self(messages))
    }
}

/// Runs a listener call, catching a panic: `None` when the listener panicked. The consumer
/// treats that as `Later` (Java treats a listener exception as RECONSUME_LATER), so a panicking
/// listener cannot leave its batch's offsets blocked forever or take the consumer down; a
/// direct consumption (CONSUME_MESSAGE_DIRECTLY) reports it as an exception.
struct CatchPanic(ConsumeFuture);

impl Future for CatchPanic {
    type Output = Option<ConsumeResult>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ConsumeResult>> {
        let fut = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(p) => p.map(Some),
            Err(_) => {
                tracing::error!("the message listener panicked; the batch will be redelivered");
                Poll::Ready(None)
            }
        }
    }
}

/// One listener call with its panics caught, whether the listener panics making its future or
/// while it runs: `None` when it panicked (see [`CatchPanic`]).
pub(crate) async fn call_caught(
    listener: &dyn MessageListener,
    messages: Vec<MessageExt>,
) -> Option<ConsumeResult> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| listener.consume(messages))) {
        Ok(fut) => CatchPanic(fut).await,
        Err(_) => {
            tracing::error!("the message listener panicked; the batch will be redelivered");
            None
        }
    }
}

/// One listener call, a panic counting as `Later` (see [`CatchPanic`]).
pub(crate) async fn consume_caught(
    listener: &dyn MessageListener,
    messages: Vec<MessageExt>,
) -> ConsumeResult {
    call_caught(listener, messages)
        .await
        .unwrap_or(ConsumeResult::Later)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one() -> Vec<MessageExt> {
        Vec::new()
    }

    #[tokio::test]
    async fn a_listener_that_panics_before_or_while_running_counts_as_later() {
        // Panics making its future: a plain closure that panics before returning one.
        let early = |_m: Vec<MessageExt>| -> std::future::Ready<ConsumeResult> {
            panic!("on purpose, before the future")
        };
        assert_eq!(call_caught(&early, one()).await, None);
        assert_eq!(consume_caught(&early, one()).await, ConsumeResult::Later);
        // Panics while polled.
        let late = |_m: Vec<MessageExt>| async move {
            if true {
                panic!("on purpose, while running");
            }
            ConsumeResult::Success
        };
        assert_eq!(call_caught(&late, one()).await, None);
        let fine = |_m: Vec<MessageExt>| std::future::ready(ConsumeResult::Success);
        assert_eq!(
            call_caught(&fine, one()).await,
            Some(ConsumeResult::Success)
        );
    }
}
