//! openraft's storage conformance suite (`openraft::testing::Suite`) run against the keeper's
//! log store and state machine, each case on a fresh data directory.

use openraft::testing::{StoreBuilder, Suite};
use openraft::{AnyError, StorageError, StorageIOError};

use super::{KeeperStateMachine, LogStore, TypeConfig};

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, KeeperStateMachine, tempfile::TempDir> for Builder {
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, KeeperStateMachine), StorageError<u64>> {
        let fail = |e: &dyn std::fmt::Display| StorageError::IO {
            source: StorageIOError::read(AnyError::error(e.to_string())),
        };
        let dir = tempfile::tempdir().map_err(|e| fail(&e))?;
        let log = LogStore::open(dir.path(), false).map_err(|e| fail(&e))?;
        let (sm, _) = KeeperStateMachine::open(dir.path(), None).map_err(|e| fail(&e))?;
        Ok((dir, log, sm))
    }
}

#[test]
fn openraft_storage_suite() {
    Suite::test_all(Builder).expect("openraft storage suite");
}
