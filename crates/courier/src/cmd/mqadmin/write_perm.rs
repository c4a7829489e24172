//! `wipe-write-perm` and `add-write-perm`: take a broker's write permission away in every name
//! server's routes, or give it back (Java's `wipeWritePerm`, `addWritePerm`).

use clap::Args;
use courier_client::{Admin, PermChange};
use serde_json::json;

use super::Common;

/// `courier mqadmin wipe-write-perm` / `add-write-perm`
#[derive(Debug, Args)]
pub struct WritePermArgs {
    #[command(flatten)]
    pub common: Common,
    /// The broker's name (brokerName in its config; `cluster-list` shows them).
    #[arg(long, short = 'b')]
    pub broker_name: String,
}

pub(super) const WIPE_WRITE_PERM_HELP: &str = "\
Examples:
  courier mqadmin wipe-write-perm -n 127.0.0.1:9876 -b broker-a
  courier mqadmin wipeWritePerm -n 'ns1:9876;ns2:9876' -b broker-a --json

The first step of taking a broker out of service: every name server marks the broker's queues
read-only in its routes, so producers stop choosing them at their next route refresh (within
30 s) and send to the other brokers, while consumers go on draining what it holds. Each name
server says how many of the broker's topics it changed. add-write-perm undoes it.

The change lives in the name servers: the broker's next registration after one of its topics is
created or changed carries its own permissions again. To keep a broker read-only whatever
happens, use update-broker-config -k brokerPermission -v 4 instead (or as well).";

pub(super) const ADD_WRITE_PERM_HELP: &str = "\
Examples:
  courier mqadmin add-write-perm -n 127.0.0.1:9876 -b broker-a
  courier mqadmin addWritePerm -b broker-a --json

Gives a broker's queues their write permission back in every name server's routes, after
wipe-write-perm: producers choose them again at their next route refresh (within 30 s). Each
name server says how many of the broker's topics it changed. A broker made read-only by its own
brokerPermission stays so at its next registration; set that back with update-broker-config -k
brokerPermission -v 6.";

/// Runs the change at every name server and renders what each did.
pub(super) async fn change(admin: &Admin, a: &WritePermArgs, wipe: bool) -> anyhow::Result<String> {
    let changes = admin.change_write_perm(&a.broker_name, wipe).await?;
    Ok(render(a, wipe, &changes))
}

fn render(a: &WritePermArgs, wipe: bool, changes: &[PermChange]) -> String {
    if a.common.json {
        let per: Vec<_> = changes
            .iter()
            .map(|c| json!({"namesrv": c.namesrv, "topics": c.topics}))
            .collect();
        return format!(
            "{}\n",
            json!({"brokerName": a.broker_name, "writable": !wipe, "nameServers": per})
        );
    }
    let what = if wipe { "wiped" } else { "added" };
    changes
        .iter()
        .map(|c| {
            format!(
                "write permission of broker {} {what} in name server {}: {} topic(s)\n",
                a.broker_name, c.namesrv, c.topics
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(json: bool) -> WritePermArgs {
        WritePermArgs {
            common: Common {
                namesrv: "n1:9876;n2:9876".into(),
                json,
            },
            broker_name: "broker-a".into(),
        }
    }

    #[test]
    fn one_line_per_name_server() {
        let changes = [
            PermChange {
                namesrv: "n1:9876".into(),
                topics: 7,
            },
            PermChange {
                namesrv: "n2:9876".into(),
                topics: 0,
            },
        ];
        let text = render(&args(false), true, &changes);
        assert_eq!(
            text,
            "write permission of broker broker-a wiped in name server n1:9876: 7 topic(s)\n\
             write permission of broker broker-a wiped in name server n2:9876: 0 topic(s)\n"
        );
        let v: serde_json::Value =
            serde_json::from_str(&render(&args(true), false, &changes)).unwrap();
        assert_eq!(v["writable"], true);
        assert_eq!(v["nameServers"][0]["topics"], 7);
        assert_eq!(v["nameServers"][1]["namesrv"], "n2:9876");
    }
}
