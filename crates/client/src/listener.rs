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

/// Runs a listener call, turning a panic into `Later` (Java treats a listener
/// exception as RECONSUME_LATER), so a panicking listener cannot leave its
/// batch's offsets blocked forever or take the consumer down.
pub(crate) struct CatchPanic(pub(crate) ConsumeFuture);

impl Future for CatchPanic {
    type Output = ConsumeResult;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<ConsumeResult> {
        let fut = &mut self.0;
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(p) => p,
            Err(_) => {
                tracing::error!("the message listener panicked; the batch will be redelivered");
                Poll::Ready(ConsumeResult::Later)
            }
        }
    }
}
