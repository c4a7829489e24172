//! `cluster-list` (Java's `clusterList`): every cluster, its brokers, each broker's id (0 the
//! master) and address, and what each broker says of its traffic: version, messages in and out
//! per second over the last 10 s (InTPS / OutTPS: the first figures of the runtime info's putTps
//! and getTransferedTps) and since midnight (UTC; since start on a broker's first day). A broker
//! that does not answer is listed with dashes: the list is for finding the ones that are down.

use std::collections::BTreeMap;

use clap::Args;
use courier_client::Admin;
use courier_remoting::body::ClusterInfo;
use serde_json::json;

use super::Common;

/// `courier mqadmin cluster-list`
#[derive(Debug, Args)]
pub struct ClusterListArgs {
    #[command(flatten)]
    pub common: Common,
}

pub(super) const CLUSTER_LIST_HELP: &str = "\
Examples:
  courier mqadmin cluster-list -n 127.0.0.1:9876
  courier mqadmin clusterList --json | jq '.clusters[].brokers[].brokerAddrs'

Broker id 0 is the master; other ids are slaves. A broker missing here has not registered (or its
registration expired): check that it runs and that its namesrvAddr points at this name server.
#InTPS and #OutTPS are messages stored and delivered per second over the last 10 s, #InToday and
#OutToday since UTC midnight, as each broker reports them; dashes mean the broker did not answer
(it is down or unreachable from here).";

/// What one broker address says of its traffic.
#[derive(Debug, Clone, Default, PartialEq)]
struct Traffic {
    version: String,
    in_tps: f64,
    out_tps: f64,
    in_today: i64,
    out_today: i64,
}

impl Traffic {
    /// From GET_BROKER_RUNTIME_INFO's table; missing figures count as 0.
    fn from_runtime(t: &BTreeMap<String, String>) -> Self {
        let first = |k: &str| -> f64 {
            t.get(k)
                .and_then(|v| v.split(' ').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        let int = |k: &str| -> i64 { t.get(k).and_then(|v| v.parse().ok()).unwrap_or(0) };
        Traffic {
            version: t.get("brokerVersionDesc").cloned().unwrap_or_default(),
            in_tps: first("putTps"),
            out_tps: first("getTransferedTps"),
            in_today: int("msgPutTotalTodayNow") - int("msgPutTotalTodayMorning"),
            out_today: int("msgGetTotalTodayNow") - int("msgGetTotalTodayMorning"),
        }
    }
}

/// The clusters with each broker address's traffic (`None`: it did not answer).
pub(super) async fn cluster_list(admin: &Admin, a: &ClusterListArgs) -> anyhow::Result<String> {
    let c = admin.cluster_info().await?;
    let mut traffic = BTreeMap::new();
    for b in c.broker_addr_table.values() {
        for addr in b.broker_addrs.values() {
            let t = admin.broker_runtime_info(addr).await.ok();
            traffic.insert(addr.clone(), t.as_ref().map(Traffic::from_runtime));
        }
    }
    Ok(if a.common.json {
        render_json(&c, &traffic)
    } else {
        render_table(&c, &traffic)
    })
}

fn render_table(c: &ClusterInfo, traffic: &BTreeMap<String, Option<Traffic>>) -> String {
    let mut out = format!(
        "{:<20} {:<20} {:>4}  {:<22} {:<8} {:>10} {:>10} {:>12} {:>12}\n",
        "#Cluster Name",
        "#Broker Name",
        "#BID",
        "#Addr",
        "#Version",
        "#InTPS",
        "#OutTPS",
        "#InToday",
        "#OutToday"
    );
    for (cluster, names) in &c.cluster_addr_table {
        for b in names.iter().filter_map(|n| c.broker_addr_table.get(n)) {
            for (id, addr) in &b.broker_addrs {
                let row = match traffic.get(addr).cloned().flatten() {
                    Some(t) => format!(
                        "{:<8} {:>10.2} {:>10.2} {:>12} {:>12}",
                        t.version, t.in_tps, t.out_tps, t.in_today, t.out_today
                    ),
                    None => format!("{:<8} {:>10} {:>10} {:>12} {:>12}", "-", "-", "-", "-", "-"),
                };
                out.push_str(&format!(
                    "{cluster:<20} {:<20} {id:>4}  {addr:<22} {row}\n",
                    b.broker_name
                ));
            }
        }
    }
    out
}

fn render_json(c: &ClusterInfo, traffic: &BTreeMap<String, Option<Traffic>>) -> String {
    let clusters: Vec<_> = c
        .cluster_addr_table
        .iter()
        .map(|(cluster, names)| {
            let brokers: Vec<_> = names
                .iter()
                .filter_map(|n| c.broker_addr_table.get(n))
                .map(|b| {
                    let figures: BTreeMap<&String, serde_json::Value> = b
                        .broker_addrs
                        .values()
                        .map(|addr| {
                            let v = match traffic.get(addr).cloned().flatten() {
                                Some(t) => json!({
                                    "version": t.version, "inTps": t.in_tps, "outTps": t.out_tps,
                                    "inToday": t.in_today, "outToday": t.out_today,
                                }),
                                None => serde_json::Value::Null,
                            };
                            (addr, v)
                        })
                        .collect();
                    json!({ "brokerName": b.broker_name, "brokerAddrs": b.broker_addrs, "traffic": figures })
                })
                .collect();
            json!({ "cluster": cluster, "brokers": brokers })
        })
        .collect();
    format!("{}\n", json!({ "clusters": clusters }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_reads_the_first_rate_and_todays_totals() {
        let t: BTreeMap<String, String> = [
            ("brokerVersionDesc", "V4_9_4"),
            ("putTps", "12.5 3.0 0.5"),
            ("getTransferedTps", "7.0 1.0 0.1"),
            ("msgPutTotalTodayNow", "1000"),
            ("msgPutTotalTodayMorning", "400"),
            ("msgGetTotalTodayNow", "90"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let tr = Traffic::from_runtime(&t);
        assert_eq!(
            tr,
            Traffic {
                version: "V4_9_4".into(),
                in_tps: 12.5,
                out_tps: 7.0,
                in_today: 600,
                out_today: 90
            }
        );
        assert_eq!(Traffic::from_runtime(&BTreeMap::new()), Traffic::default());
    }
}
