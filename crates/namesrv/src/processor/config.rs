//! GET_NAMESRV_CONFIG (319) and UPDATE_NAMESRV_CONFIG (318): `mqadmin getNamesrvConfig` and
//! `updateNamesrvConfig`. The body is Java properties text both ways; what may change and how a
//! refusal is answered is `settings.rs`'s (NO_PERMISSION for the black list, INVALID_PARAMETER
//! for the rest, with the reason).

use std::collections::BTreeMap;

use courier_remoting::body::{read_properties, write_properties};
use courier_remoting::code::{request, response};
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::not_supported;
use crate::settings::Refusal;
use crate::NameServer;

pub(super) fn handle(
    ns: &NameServer,
    _conn: &ConnectionHandle,
    req: &RemotingCommand,
) -> ProcessResult {
    match req.code {
        request::GET_NAMESRV_CONFIG => {
            let all: Vec<(String, String)> = ns.settings.all().into_iter().collect();
            Ok(Some(
                RemotingCommand::success_to(req).with_body(write_properties(&all).into_bytes()),
            ))
        }
        request::UPDATE_NAMESRV_CONFIG => {
            let text = String::from_utf8_lossy(req.body_bytes());
            let changes: BTreeMap<String, String> = read_properties(&text).into_iter().collect();
            Ok(Some(match ns.settings.update(&changes) {
                Ok(changed) => {
                    tracing::info!(?changed, "name server settings updated");
                    RemotingCommand::success_to(req)
                }
                Err(Refusal::BlackListed) => RemotingCommand::error_to(
                    req,
                    response::NO_PERMISSION,
                    "Can not update config in black list.",
                ),
                Err(Refusal::Invalid(why)) => {
                    RemotingCommand::error_to(req, response::INVALID_PARAMETER, why)
                }
            }))
        }
        _ => not_supported(req),
    }
}
