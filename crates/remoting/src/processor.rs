//! Request dispatch: the `Processor` trait that handles requests of some codes,
//! and the `Dispatcher` table mapping request codes to processors.
//!
//! A processor returns `Ok(Some(response))` to answer, `Ok(None)` to answer
//! nothing (the request was oneway, or it will answer later through the
//! connection handle), or an error, which the connection turns into a
//! SYSTEM_ERROR response whose remark is the error text. The connection fixes
//! the response's opaque and RESPONSE flag, so processors need not.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::body::BodyError;
use crate::command::RemotingCommand;
use crate::connection::ConnectionHandle;
use crate::header::HeaderError;

/// What a processor produces.
pub type ProcessResult = Result<Option<RemotingCommand>, ProcessError>;

/// The future a processor returns.
pub type ProcessFuture = Pin<Box<dyn Future<Output = ProcessResult> + Send + 'static>>;

/// A processor failure; its text becomes the SYSTEM_ERROR response's remark.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Header(#[from] HeaderError),
    #[error(transparent)]
    Body(#[from] BodyError),
    #[error("{0}")]
    Other(String),
}

/// Handles requests; one instance serves every connection, concurrently.
pub trait Processor: Send + Sync + 'static {
    fn process(&self, conn: ConnectionHandle, request: RemotingCommand) -> ProcessFuture;
}

impl<F, Fut> Processor for F
where
    F: Fn(ConnectionHandle, RemotingCommand) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ProcessResult> + Send + 'static,
{
    fn process(&self, conn: ConnectionHandle, request: RemotingCommand) -> ProcessFuture {
        Box::pin(self(conn, request))
    }
}

/// Request code → processor, with an optional fallback for other codes.
#[derive(Clone, Default)]
pub struct Dispatcher {
    table: HashMap<i32, Arc<dyn Processor>>,
    fallback: Option<Arc<dyn Processor>>,
}

impl Dispatcher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes requests with `code` to `processor` (replacing any earlier one).
    pub fn register(&mut self, code: i32, processor: Arc<dyn Processor>) -> &mut Self {
        self.table.insert(code, processor);
        self
    }

    /// Routes every code in `codes` to `processor`.
    pub fn register_all(&mut self, codes: &[i32], processor: Arc<dyn Processor>) -> &mut Self {
        for code in codes {
            self.table.insert(*code, processor.clone());
        }
        self
    }

    /// Routes codes without a registered processor to `processor`.
    pub fn set_fallback(&mut self, processor: Arc<dyn Processor>) -> &mut Self {
        self.fallback = Some(processor);
        self
    }

    /// The processor for a request code.
    pub fn get(&self, code: i32) -> Option<&Arc<dyn Processor>> {
        self.table.get(&code).or(self.fallback.as_ref())
    }
}
