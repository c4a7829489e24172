//! Raft networking for a standalone keeper: there are no peers, so every RPC fails with an
//! error saying the ensemble is not configured. Openraft only calls this if the membership
//! names another node, which a standalone keeper never proposes.

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, RaftNetwork, RaftNetworkFactory};

use super::TypeConfig;

/// The network factory of a one-member group.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandaloneNetwork;

/// A "connection" to a peer that does not exist.
#[derive(Debug, Clone, Copy)]
pub struct NoPeer {
    target: u64,
}

fn no_ensemble<E: std::error::Error>(target: u64) -> RPCError<u64, BasicNode, E> {
    let why = std::io::Error::other(format!(
        "the keeper ensemble is not configured: this server runs standalone and cannot reach \
         Raft member {target}; configure the ensemble's members before adding nodes"
    ));
    RPCError::Unreachable(Unreachable::new(&why))
}

impl RaftNetworkFactory<TypeConfig> for StandaloneNetwork {
    type Network = NoPeer;

    async fn new_client(&mut self, target: u64, _node: &BasicNode) -> NoPeer {
        tracing::warn!(
            target,
            "Raft asked for a peer, but the keeper ensemble is not configured"
        );
        NoPeer { target }
    }
}

impl RaftNetwork<TypeConfig> for NoPeer {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(no_ensemble(self.target))
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        Err(no_ensemble(self.target))
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<u64>,
        _option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        Err(no_ensemble(self.target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::network::RPCOption;
    use std::time::Duration;

    #[tokio::test]
    async fn every_rpc_names_the_missing_ensemble() {
        let mut f = StandaloneNetwork;
        let mut peer = f.new_client(3, &BasicNode::default()).await;
        let vote = VoteRequest::new(openraft::Vote::new(1, 1), None);
        let err = peer
            .vote(vote, RPCOption::new(Duration::from_secs(1)))
            .await
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("ensemble is not configured"), "{text}");
        assert!(text.contains("member 3"), "{text}");
    }
}
