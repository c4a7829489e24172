//! Route queries and topic administration: GET_ROUTEINFO_BY_TOPIC (105),
//! GET_BROKER_CLUSTER_INFO (106), GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206),
//! GET_SYSTEM_TOPIC_LIST_FROM_NS (304), GET_TOPICS_BY_CLUSTER (224), DELETE_TOPIC_IN_NAMESRV (216),
//! REGISTER_TOPIC_IN_NAMESRV (217).
//!
//! Bodies are standard JSON (quoted numeric keys) for every client version:
//! Java's fastjson parses them whatever its version, and non-Java clients
//! choke on the unquoted form.

use courier_remoting::body::{from_json, to_json, TopicList, TopicRouteData};
use courier_remoting::code::{request, response};
use courier_remoting::header::*;
use courier_remoting::{ConnectionHandle, ProcessResult, RemotingCommand};

use super::not_supported;
use crate::{NameServer, NAMESPACE_ORDER_TOPIC_CONFIG};

pub(super) fn handle(
    ns: &NameServer,
    _conn: &ConnectionHandle,
    req: &RemotingCommand,
) -> ProcessResult {
    match req.code {
        request::GET_ROUTEINFO_BY_TOPIC => {
            let h: GetRouteInfoRequestHeader = req.decode_header()?;
            match ns.routes.topic_route(&h.topic) {
                Some(mut route) => {
                    if ns.settings.order_message_enable() {
                        route.order_topic_conf = ns.kv.get(NAMESPACE_ORDER_TOPIC_CONFIG, &h.topic);
                    }
                    Ok(Some(
                        RemotingCommand::success_to(req).with_body(to_json(&route)),
                    ))
                }
                None => Ok(Some(RemotingCommand::error_to(
                    req,
                    response::TOPIC_NOT_EXIST,
                    format!(
                        "No topic route info in name server for the topic: {}",
                        h.topic
                    ),
                ))),
            }
        }
        request::GET_BROKER_CLUSTER_INFO => Ok(Some(
            RemotingCommand::success_to(req).with_body(to_json(&ns.routes.cluster_info())),
        )),
        request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
            if !ns.settings.enable_all_topic_list() {
                return disabled(req);
            }
            let list = TopicList {
                broker_addr: None,
                topic_list: ns.routes.all_topics(),
            };
            Ok(Some(
                RemotingCommand::success_to(req).with_body(to_json(&list)),
            ))
        }
        request::GET_SYSTEM_TOPIC_LIST_FROM_NS => {
            // Java's answer: every cluster and broker name (old clients treat them as topics)
            // and one broker's address, which clients then ask for its system topics (305).
            let info = ns.routes.cluster_info();
            let broker_addr = info
                .broker_addr_table
                .values()
                .find_map(|b| b.broker_addrs.values().next().cloned());
            let topic_list = info
                .cluster_addr_table
                .iter()
                .flat_map(|(cluster, brokers)| std::iter::once(cluster).chain(brokers))
                .cloned()
                .collect();
            let list = TopicList {
                broker_addr,
                topic_list,
            };
            Ok(Some(
                RemotingCommand::success_to(req).with_body(to_json(&list)),
            ))
        }
        request::GET_TOPICS_BY_CLUSTER => {
            if !ns.settings.enable_topic_list() {
                return disabled(req);
            }
            let h: GetTopicsByClusterRequestHeader = req.decode_header()?;
            let list = TopicList {
                broker_addr: None,
                topic_list: ns.routes.topics_by_cluster(&h.cluster),
            };
            Ok(Some(
                RemotingCommand::success_to(req).with_body(to_json(&list)),
            ))
        }
        request::DELETE_TOPIC_IN_NAMESRV => {
            let h: DeleteTopicFromNamesrvRequestHeader = req.decode_header()?;
            let cluster = h.cluster_name.as_deref().filter(|c| !c.is_empty());
            ns.routes.delete_topic(&h.topic, cluster);
            Ok(Some(RemotingCommand::success_to(req)))
        }
        request::REGISTER_TOPIC_IN_NAMESRV => {
            let h: RegisterTopicRequestHeader = req.decode_header()?;
            if let Some(body) = &req.body {
                let route: TopicRouteData = from_json(body)?;
                if !ns.routes.register_topic(&h.topic, &route.queue_datas) {
                    tracing::warn!(topic = %h.topic, "REGISTER_TOPIC_IN_NAMESRV names an unknown broker; ignored");
                }
            }
            Ok(Some(RemotingCommand::success_to(req)))
        }
        _ => not_supported(req),
    }
}

/// Java's answer when an operator switched a topic list off (`enableAllTopicList`,
/// `enableTopicList`).
fn disabled(req: &RemotingCommand) -> ProcessResult {
    Ok(Some(RemotingCommand::error_to(
        req,
        response::SYSTEM_ERROR,
        "disable",
    )))
}
