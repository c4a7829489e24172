//! Errors of the name server library.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum NamesrvError {
    #[error("cannot read or write the KV config file {path}: {source}; check the data directory's permissions and free space")]
    KvConfigIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the KV config file {path} is not valid JSON ({reason}); fix or remove it")]
    KvConfigParse { path: PathBuf, reason: String },
}
