//! Broker-facing requests: REGISTER_BROKER (103), UNREGISTER_BROKER (104),
//! QUERY_DATA_VERSION (322), BROKER_HEARTBEAT (904), WIPE_WRITE_PERM_OF_BROKER
//! (205) and ADD_WRITE_PERM_OF_BROKER (327).
//!
//! REGISTER_BROKER checks `bodyCrc32` (when non-zero) before parsing the body,
//! which is JSON or, with `compressed=true`, the zlib layout.

use std::time::{Duration, Instant};

use courier_remoting::body::{to_json, DataVersion, KvTable, RegisterBrokerBody};
use courier_remoting::code::{request, response};
use courier_remoting::header::*;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::not_supported;
use crate::route_table::Registration;
use crate::{NameServer, NAMESPACE_ORDER_TOPIC_CONFIG};

pub(super) fn handle(
    ns: &NameServer,
    conn: &ConnectionHandle,
    req: &RemotingCommand,
) -> ProcessResult {
    match req.code {
        request::REGISTER_BROKER => register(ns, conn, req),
        request::UNREGISTER_BROKER => {
            let h: UnregisterBrokerRequestHeader = req.decode_header()?;
            ns.routes.unregister_broker(
                &h.cluster_name,
                &h.broker_addr,
                &h.broker_name,
                h.broker_id,
            );
            Ok(Some(RemotingCommand::success_to(req)))
        }
        request::QUERY_DATA_VERSION => {
            let h: QueryDataVersionRequestHeader = req.decode_header()?;
            let version: DataVersion = match &req.body {
                Some(b) => courier_remoting::body::from_json(b)?,
                None => DataVersion::default(),
            };
            let changed = ns.routes.is_topic_config_changed(&h.broker_addr, &version);
            if !changed {
                ns.routes.touch(&h.broker_addr, Instant::now());
            }
            let mut resp =
                RemotingCommand::success_to(req).with_header(&QueryDataVersionResponseHeader {
                    changed: Some(changed),
                });
            if let Some(v) = ns.routes.broker_data_version(&h.broker_addr) {
                resp = resp.with_body(to_json(&v));
            }
            Ok(Some(resp))
        }
        request::BROKER_HEARTBEAT => {
            if let Some(addr) = req.ext_field("brokerAddr") {
                ns.routes.touch(&addr, Instant::now());
            }
            Ok(Some(RemotingCommand::success_to(req)))
        }
        request::WIPE_WRITE_PERM_OF_BROKER => {
            let h: WipeWritePermOfBrokerRequestHeader = req.decode_header()?;
            let count = ns.routes.change_write_perm(&h.broker_name, true);
            Ok(Some(RemotingCommand::success_to(req).with_header(
                &WipeWritePermOfBrokerResponseHeader {
                    wipe_topic_count: count,
                },
            )))
        }
        request::ADD_WRITE_PERM_OF_BROKER => {
            let h: AddWritePermOfBrokerRequestHeader = req.decode_header()?;
            let count = ns.routes.change_write_perm(&h.broker_name, false);
            Ok(Some(RemotingCommand::success_to(req).with_header(
                &AddWritePermOfBrokerResponseHeader {
                    add_topic_count: count,
                },
            )))
        }
        _ => not_supported(req),
    }
}

fn register(ns: &NameServer, conn: &ConnectionHandle, req: &RemotingCommand) -> ProcessResult {
    let h: RegisterBrokerRequestHeader = req.decode_header()?;
    let body = req.body_bytes();
    if let Some(crc) = h.body_crc32.filter(|c| *c != 0) {
        // Java's CRC32 travels as a signed int.
        if crc32fast::hash(body) as i32 != crc {
            return Ok(Some(RemotingCommand::error_to(
                req,
                response::SYSTEM_ERROR,
                "crc32 not match",
            )));
        }
    }
    let parsed = if body.is_empty() {
        RegisterBrokerBody::default()
    } else {
        RegisterBrokerBody::decode(body, h.compressed.unwrap_or(false))?
    };
    let result = ns.routes.register_broker(
        Registration {
            cluster_name: h.cluster_name,
            broker_addr: h.broker_addr,
            broker_name: h.broker_name,
            broker_id: h.broker_id,
            ha_server_addr: h.ha_server_addr,
            zone_name: h.zone_name,
            heartbeat_timeout: h
                .heartbeat_timeout_millis
                .filter(|ms| *ms > 0)
                .map(|ms| Duration::from_millis(ms as u64)),
            enable_acting_master: h.enable_acting_master.unwrap_or(false),
            topic_config: parsed.topic_config_serialize_wrapper,
            filter_server_list: parsed.filter_server_list,
            connection_id: Some(conn.id()),
        },
        Instant::now(),
    );
    let mut resp = RemotingCommand::success_to(req).with_header(&RegisterBrokerResponseHeader {
        ha_server_addr: result.ha_server_addr,
        master_addr: result.master_addr,
    });
    if let Some(table) = ns.kv.namespace(NAMESPACE_ORDER_TOPIC_CONFIG) {
        resp = resp.with_body(to_json(&KvTable { table }));
    }
    Ok(Some(resp))
}
