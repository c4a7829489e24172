//! `get-namesrv-config` and `update-namesrv-config` (Java's `getNamesrvConfig`,
//! `updateNamesrvConfig`): every name server's own settings, and changing one on all of them.

use clap::Args;
use courier_client::Admin;
use serde_json::json;

use super::broker_views::key_value_blocks;
use super::Common;

/// `courier mqadmin get-namesrv-config`
#[derive(Debug, Args)]
pub struct GetNamesrvConfigArgs {
    #[command(flatten)]
    pub common: Common,
}

/// `courier mqadmin update-namesrv-config`
#[derive(Debug, Args)]
pub struct UpdateNamesrvConfigArgs {
    #[command(flatten)]
    pub common: Common,
    /// The key, under RocketMQ's name (e.g. enableAllTopicList).
    #[arg(long, short = 'k')]
    pub key: String,
    /// The new value.
    #[arg(long, short = 'v')]
    pub value: String,
}

pub(super) const GET_NAMESRV_CONFIG_HELP: &str = "\
Examples:
  courier mqadmin get-namesrv-config -n 'ns1:9876;ns2:9876'
  courier mqadmin getNamesrvConfig --json | jq '.nameServers[]'

Each name server's settings under RocketMQ's key names: whether routes carry ordered-topic
configuration (orderMessageEnable), whether the topic lists are served (enableAllTopicList,
enableTopicList), how often expired brokers are looked for (scanNotActiveBrokerInterval, ms),
where the KV configuration is kept.";

pub(super) const UPDATE_NAMESRV_CONFIG_HELP: &str = "\
Examples:
  courier mqadmin update-namesrv-config -n 127.0.0.1:9876 -k enableAllTopicList -v false
  courier mqadmin updateNamesrvConfig -k orderMessageEnable -v true

Changes a setting on every name server given with -n, while they run: orderMessageEnable,
enableAllTopicList, enableTopicList (true or false) and scanNotActiveBrokerInterval (ms, 100 or
more). A switched-off topic list is answered \"disable\", as Java's name server answers it. Keys
in configBlackList (kvConfigPath among them) are refused, and so are unknown keys and values
that do not fit; then nothing changes. Changes last until the name server stops.";

/// `get-namesrv-config`: one block (or JSON member) per name server.
pub(super) async fn get(admin: &Admin, a: &GetNamesrvConfigArgs) -> anyhow::Result<String> {
    let all = admin.namesrv_config().await?;
    if a.common.json {
        let per: serde_json::Map<_, _> = all.into_iter().map(|(n, kv)| (n, json!(kv))).collect();
        return Ok(format!("{}\n", json!({ "nameServers": per })));
    }
    Ok(key_value_blocks("Name server", &all))
}

/// `update-namesrv-config`.
pub(super) async fn update(admin: &Admin, a: &UpdateNamesrvConfigArgs) -> anyhow::Result<String> {
    let changed = admin
        .update_namesrv_config(&[(a.key.clone(), a.value.clone())])
        .await?;
    Ok(if a.common.json {
        format!(
            "{}\n",
            json!({"key": a.key, "value": a.value, "nameServers": changed})
        )
    } else {
        format!(
            "{} = {} set on {} name server(s) ({})\n",
            a.key,
            a.value,
            changed.len(),
            changed.join(", ")
        )
    })
}
