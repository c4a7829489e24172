//! GET_ROUTEINFO_BY_TOPIC (105) request header (fact sheet §3.5).

use super::command_header;

command_header! {
    pub struct GetRouteInfoRequestHeader {
        topic: String => "topic",
        /// Asks the name server for standard JSON (quoted numeric map keys).
        accept_standard_json_only: Option<bool> => "acceptStandardJsonOnly",
    }
}
