//! Request processors of the name server, one module per request family, and
//! the dispatcher wiring their codes. Handlers are synchronous (all state is in
//! memory, the KV file is tiny) and return the response or a typed error that
//! the connection turns into SYSTEM_ERROR with the error text as remark.

mod broker;
mod config;
mod kv;
mod route;

use std::sync::Arc;

use courier_remoting::code::request;
use courier_remoting::{
    ConnectionHandle, Dispatcher, ProcessFuture, ProcessResult, Processor, RemotingCommand,
};

use crate::NameServer;

type Handler = fn(&NameServer, &ConnectionHandle, &RemotingCommand) -> ProcessResult;

struct Family {
    ns: Arc<NameServer>,
    handler: Handler,
}

impl Processor for Family {
    fn process(&self, conn: ConnectionHandle, request: RemotingCommand) -> ProcessFuture {
        let result = (self.handler)(&self.ns, &conn, &request);
        Box::pin(async move { result })
    }
}

/// The dispatcher serving every request code the name server knows.
pub fn dispatcher(ns: Arc<NameServer>) -> Dispatcher {
    let mut d = Dispatcher::new();
    let family = |handler: Handler| -> Arc<dyn Processor> {
        Arc::new(Family {
            ns: ns.clone(),
            handler,
        })
    };
    d.register_all(
        &[
            request::REGISTER_BROKER,
            request::UNREGISTER_BROKER,
            request::QUERY_DATA_VERSION,
            request::BROKER_HEARTBEAT,
            request::WIPE_WRITE_PERM_OF_BROKER,
            request::ADD_WRITE_PERM_OF_BROKER,
        ],
        family(broker::handle),
    );
    d.register_all(
        &[
            request::GET_ROUTEINFO_BY_TOPIC,
            request::GET_BROKER_CLUSTER_INFO,
            request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER,
            request::GET_TOPICS_BY_CLUSTER,
            request::GET_SYSTEM_TOPIC_LIST_FROM_NS,
            request::DELETE_TOPIC_IN_NAMESRV,
            request::REGISTER_TOPIC_IN_NAMESRV,
        ],
        family(route::handle),
    );
    d.register_all(
        &[request::GET_NAMESRV_CONFIG, request::UPDATE_NAMESRV_CONFIG],
        family(config::handle),
    );
    d.register_all(
        &[
            request::PUT_KV_CONFIG,
            request::GET_KV_CONFIG,
            request::DELETE_KV_CONFIG,
            request::GET_KVLIST_BY_NAMESPACE,
        ],
        family(kv::handle),
    );
    d
}

/// The answer for a code routed to a family that does not handle it (a wiring bug).
fn not_supported(req: &RemotingCommand) -> ProcessResult {
    Ok(Some(RemotingCommand::error_to(
        req,
        courier_remoting::code::response::REQUEST_CODE_NOT_SUPPORTED,
        format!(" request type {} not supported", req.code),
    )))
}
