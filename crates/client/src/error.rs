//! `ClientError`: every failure the client API reports. Each variant's text says
//! what went wrong and what the caller can do about it; broker answers keep the
//! broker's response code and remark so callers can branch on them.

use courier_remoting::RemotingError;

/// A failure of a producer, consumer or admin call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request could not be sent or answered (connect, timeout, closed connection).
    #[error(transparent)]
    Remoting(#[from] RemotingError),
    /// A broker or name server answered with an error code.
    #[error("{addr} answered code {code}: {remark}")]
    Broker {
        addr: String,
        code: i32,
        remark: String,
    },
    /// No name server knows the topic and no auto-create route was available.
    #[error("no route for topic {topic}: {reason}; create the topic first or enable autoCreateTopicEnable on a broker")]
    NoRoute { topic: String, reason: String },
    /// The topic's route has no queue usable for this operation.
    #[error("topic {topic} has no {what} queue on any live broker; check the brokers' perm and that they are registered")]
    NoQueue { topic: String, what: &'static str },
    /// The message cannot be sent as given.
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// A configuration value is unusable.
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// A reply body could not be decoded.
    #[error("cannot decode {what}: {reason}; the peer may speak an incompatible protocol version")]
    Decode { what: &'static str, reason: String },
    /// A send failed on every attempt.
    #[error("send to topic {topic} failed after {attempts} attempt(s); last error: {last}")]
    SendFailed {
        topic: String,
        attempts: usize,
        last: Box<ClientError>,
    },
    /// The local offset file could not be read or written.
    #[error("offset file {path}: {source}; check the directory exists and is writable")]
    OffsetFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// An admin operation was refused before it changed anything; the text says why and what
    /// to do.
    #[error("{0}")]
    Refused(String),
    /// A request (`Producer::request`) was sent, but no reply came within its timeout.
    #[error("{0}")]
    RequestTimeout(String),
    /// The client was shut down.
    #[error("the client is shut down; create a new one")]
    ShutDown,
}

/// A `map_err` for a reply part that would not decode: `ClientError::Decode` naming `what`.
pub(crate) fn decode_failed<E: std::fmt::Display>(
    what: &'static str,
) -> impl FnOnce(E) -> ClientError {
    move |e| ClientError::Decode {
        what,
        reason: e.to_string(),
    }
}

impl ClientError {
    /// The broker's response code, when the failure is a broker answer.
    pub fn response_code(&self) -> Option<i32> {
        match self {
            ClientError::Broker { code, .. } => Some(*code),
            ClientError::SendFailed { last, .. } => last.response_code(),
            _ => None,
        }
    }
}

/// Shorthand for client results.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
