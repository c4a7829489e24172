//! `ClientOptions`: settings every producer and consumer shares — where the
//! name servers are, who this client is, and how often it refreshes routes and
//! heartbeats. Defaults are Java's (fact sheet §12.2).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use courier_remoting::SerializeType;

use crate::error::ClientError;

/// Shared client settings.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Name server addresses ("host:port").
    pub namesrv_addrs: Vec<String>,
    /// The IP put into the client id and UNIQ_KEY (default 127.0.0.1).
    pub client_ip: IpAddr,
    /// Second part of the client id; unique per client object by default
    /// (`pid#nanos`), set it to keep a broadcasting consumer's offset file
    /// across restarts.
    pub instance_name: String,
    /// Timeout of name server and broker calls other than sends and pulls (3 s).
    pub request_timeout: Duration,
    /// Route refresh period (`pollNameServerInterval`, 30 s).
    pub poll_name_server_interval: Duration,
    /// Heartbeat period (`heartbeatBrokerInterval`, 30 s).
    pub heartbeat_interval: Duration,
    /// Header encoding of requests: the ROCKETMQ binary form (default) or JSON (Java
    /// clients' default). Every RocketMQ broker and name server reads both and answers in
    /// the request's form; the binary one costs both sides less per request (no escaping,
    /// no JSON parsing). The default can be set with the environment variable Java clients
    /// read, `ROCKETMQ_SERIALIZE_TYPE` (`JSON` or `ROCKETMQ`).
    pub serialize_type: SerializeType,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            namesrv_addrs: Vec::new(),
            client_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
            instance_name: default_instance_name(),
            request_timeout: Duration::from_secs(3),
            poll_name_server_interval: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(30),
            serialize_type: serialize_type_from_env(),
        }
    }
}

/// The environment variable Java's `RemotingCommand` reads for its default header encoding.
pub const SERIALIZE_TYPE_ENV: &str = "ROCKETMQ_SERIALIZE_TYPE";

/// The default header encoding: `ROCKETMQ_SERIALIZE_TYPE` when set, else the binary form.
fn serialize_type_from_env() -> SerializeType {
    let value = std::env::var(SERIALIZE_TYPE_ENV).unwrap_or_default();
    parse_serialize_type(&value).unwrap_or_else(|| {
        tracing::warn!(
            "{SERIALIZE_TYPE_ENV}={value:?} is neither JSON nor ROCKETMQ; using ROCKETMQ headers"
        );
        SerializeType::RocketMq
    })
}

/// `JSON` or `ROCKETMQ` in any case; empty for the default. `None` for anything else.
fn parse_serialize_type(value: &str) -> Option<SerializeType> {
    match value.trim() {
        "" => Some(SerializeType::RocketMq),
        v if v.eq_ignore_ascii_case("JSON") => Some(SerializeType::Json),
        v if v.eq_ignore_ascii_case("ROCKETMQ") => Some(SerializeType::RocketMq),
        _ => None,
    }
}

impl ClientOptions {
    /// Sets the name servers from a ";"-separated list (the `namesrvAddr` format).
    pub fn set_namesrv(&mut self, list: &str) {
        self.namesrv_addrs = list
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
    }

    /// `ip@instanceName`, as Java builds it.
    pub fn client_id(&self) -> String {
        format!("{}@{}", self.client_ip, self.instance_name)
    }

    pub(crate) fn validate(&self) -> Result<(), ClientError> {
        if self.namesrv_addrs.is_empty() {
            return Err(ClientError::Config(
                "no name server address; set one, e.g. \"127.0.0.1:9876\"".into(),
            ));
        }
        if self.instance_name.is_empty() || self.instance_name.contains('@') {
            return Err(ClientError::Config(format!(
                "instance name {:?} must be non-empty and contain no '@'",
                self.instance_name
            )));
        }
        for (name, d) in [
            ("request timeout", self.request_timeout),
            ("name server poll interval", self.poll_name_server_interval),
            ("heartbeat interval", self.heartbeat_interval),
        ] {
            if d.is_zero() {
                return Err(ClientError::Config(format!("{name} must be above zero")));
            }
        }
        Ok(())
    }
}

/// `pid#nanos`: unique per client object within and across processes.
pub fn default_instance_name() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{}#{}", std::process::id(), nanos + u128::from(seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_encoding_is_read_as_java_reads_it() {
        assert_eq!(parse_serialize_type(""), Some(SerializeType::RocketMq));
        assert_eq!(parse_serialize_type("json"), Some(SerializeType::Json));
        assert_eq!(parse_serialize_type(" JSON "), Some(SerializeType::Json));
        assert_eq!(
            parse_serialize_type("RocketMQ"),
            Some(SerializeType::RocketMq)
        );
        assert_eq!(parse_serialize_type("xml"), None);
    }
}
