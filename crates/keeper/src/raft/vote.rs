//! Durable Raft vote: `<data_dir>/raft.vote` holds the JSON of the last saved `Vote`.
//!
//! Written to `raft.vote.tmp`, fsynced, renamed over `raft.vote`, then the directory is
//! fsynced, so after a crash the file holds either the previous or the new vote, never a mix.
//! A vote must be durable before openraft acts on it (it never votes twice in a term).

use std::path::{Path, PathBuf};

use openraft::Vote;

use crate::error::{io_err, KeeperError};

const FILE: &str = "raft.vote";

/// The vote file of one data directory.
#[derive(Debug, Clone)]
pub struct VoteFile {
    dir: PathBuf,
}

impl VoteFile {
    /// The vote file in `dir` (not read yet).
    pub fn new(dir: &Path) -> VoteFile {
        VoteFile {
            dir: dir.to_path_buf(),
        }
    }

    /// Reads the saved vote; None if none was ever saved.
    pub fn read(&self) -> Result<Option<Vote<u64>>, KeeperError> {
        let path = self.dir.join(FILE);
        let raw = match std::fs::read(&path) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(KeeperError::Io {
                    context: "reading the Raft vote",
                    path,
                    source,
                })
            }
        };
        serde_json::from_slice(&raw)
            .map(Some)
            .map_err(|e| KeeperError::Corrupt {
                path,
                zxid: 0,
                reason: format!("Raft vote does not decode: {e}"),
            })
    }

    /// Saves `vote` durably (see the module doc for the crash argument).
    pub fn save(&self, vote: &Vote<u64>) -> Result<(), KeeperError> {
        let dst = self.dir.join(FILE);
        let body = serde_json::to_vec(vote).map_err(|e| KeeperError::Io {
            context: "encoding the Raft vote",
            path: dst.clone(),
            source: std::io::Error::other(e),
        })?;
        courier_durable_file::replace(&dst, &body, None)
            .map_err(io_err("writing the Raft vote", &dst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vote_survives_reopen_and_garbage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = VoteFile::new(dir.path());
        assert_eq!(f.read().unwrap(), None);
        let mut v = Vote::new(3, 1);
        v.commit();
        f.save(&v).unwrap();
        f.save(&Vote::new_committed(4, 1)).unwrap();
        assert_eq!(
            VoteFile::new(dir.path()).read().unwrap(),
            Some(Vote::new_committed(4, 1))
        );
        std::fs::write(dir.path().join(FILE), b"{not json").unwrap();
        assert!(matches!(f.read(), Err(KeeperError::Corrupt { .. })));
    }
}
