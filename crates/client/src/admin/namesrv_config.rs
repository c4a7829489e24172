//! The name servers' own settings (GET_NAMESRV_CONFIG, UPDATE_NAMESRV_CONFIG: `mqadmin
//! getNamesrvConfig`, `updateNamesrvConfig`), asked of every configured name server: each keeps
//! its own, and a change meant for the cluster must reach them all.

use std::collections::BTreeMap;

use courier_remoting::body::{read_properties, write_properties};
use courier_remoting::code::request;
use courier_remoting::RemotingCommand;

use super::Admin;
use crate::error::Result;

impl Admin {
    /// Each name server's settings, by its address, as it reports them (Java's key names).
    pub async fn namesrv_config(&self) -> Result<Vec<(String, BTreeMap<String, String>)>> {
        let mut all = Vec::new();
        for addr in &self.instance.options.namesrv_addrs {
            let cmd = RemotingCommand::new_request(request::GET_NAMESRV_CONFIG);
            let resp = self
                .instance
                .invoke_ok(addr, cmd, self.instance.options.request_timeout)
                .await?;
            let text = String::from_utf8_lossy(resp.body_bytes());
            all.push((addr.clone(), read_properties(&text).into_iter().collect()));
        }
        Ok(all)
    }

    /// Sets `changes` on every name server in turn; the first refusal is the error (the name
    /// servers before it have changed already). Returns the name servers.
    pub async fn update_namesrv_config(&self, changes: &[(String, String)]) -> Result<Vec<String>> {
        let body = write_properties(changes).into_bytes();
        let addrs = self.instance.options.namesrv_addrs.clone();
        for addr in &addrs {
            let cmd = RemotingCommand::new_request(request::UPDATE_NAMESRV_CONFIG)
                .with_body(body.clone());
            self.instance
                .invoke_ok(addr, cmd, self.instance.options.request_timeout)
                .await?;
        }
        Ok(addrs)
    }
}
