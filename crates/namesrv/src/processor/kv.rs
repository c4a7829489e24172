//! KV config requests: PUT_KV_CONFIG (100), GET_KV_CONFIG (101),
//! DELETE_KV_CONFIG (102), GET_KVLIST_BY_NAMESPACE (219). A missing item is
//! QUERY_NOT_FOUND with Java's remark.

use courier_remoting::body::{to_json, KvTable};
use courier_remoting::code::{request, response};
use courier_remoting::header::*;
use courier_remoting::{ConnectionHandle, ProcessError, ProcessResult, RemotingCommand};

use super::not_supported;
use crate::NameServer;

pub(super) fn handle(
    ns: &NameServer,
    _conn: &ConnectionHandle,
    req: &RemotingCommand,
) -> ProcessResult {
    let io = |e: crate::NamesrvError| ProcessError::Other(e.to_string());
    match req.code {
        request::PUT_KV_CONFIG => {
            let h: PutKvConfigRequestHeader = req.decode_header()?;
            ns.kv.put(&h.namespace, &h.key, &h.value).map_err(io)?;
            Ok(Some(RemotingCommand::success_to(req)))
        }
        request::GET_KV_CONFIG => {
            let h: GetKvConfigRequestHeader = req.decode_header()?;
            match ns.kv.get(&h.namespace, &h.key) {
                Some(value) => Ok(Some(
                    RemotingCommand::success_to(req)
                        .with_header(&GetKvConfigResponseHeader { value: Some(value) }),
                )),
                None => Ok(Some(RemotingCommand::error_to(
                    req,
                    response::QUERY_NOT_FOUND,
                    format!("No config item, Namespace: {} Key: {}", h.namespace, h.key),
                ))),
            }
        }
        request::DELETE_KV_CONFIG => {
            let h: DeleteKvConfigRequestHeader = req.decode_header()?;
            ns.kv.delete(&h.namespace, &h.key).map_err(io)?;
            Ok(Some(RemotingCommand::success_to(req)))
        }
        request::GET_KVLIST_BY_NAMESPACE => {
            let h: GetKvListByNamespaceRequestHeader = req.decode_header()?;
            match ns.kv.namespace(&h.namespace) {
                Some(table) => Ok(Some(
                    RemotingCommand::success_to(req).with_body(to_json(&KvTable { table })),
                )),
                None => Ok(Some(RemotingCommand::error_to(
                    req,
                    response::QUERY_NOT_FOUND,
                    format!("No config item, Namespace: {}", h.namespace),
                ))),
            }
        }
        _ => not_supported(req),
    }
}
