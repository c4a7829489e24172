//! Replacing a small file (a config table, an offsets file, a vote) so that a crash or a power
//! loss leaves either the old contents or the new ones, whole.
//!
//! The steps: write `<file>.tmp`, fsync it, optionally move the current file aside as a backup,
//! rename the temp file over `<file>`, fsync the directory. A file's fsync covers its data, not
//! the directory entry that finds it, hence the last step. Callers that can be called from
//! several threads at once must take turns: they share the temp file.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// `path` with `suffix` appended to its file name (`topics.json` + `.tmp`).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(suffix);
    PathBuf::from(s)
}

/// Replaces `path` with `contents` (module comment). With `backup`, the file being replaced is
/// first renamed to that path, so a crash between the two renames leaves the backup. The parent
/// directory is created if missing. A directory that refuses fsync (EINVAL, as some filesystems
/// answer) only weakens the power-loss guarantee of the new name; any other error is returned.
pub fn replace(path: &Path, contents: &[u8], backup: Option<&Path>) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let tmp = with_suffix(path, ".tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
    }
    if let Some(bak) = backup {
        if path.exists() {
            std::fs::rename(path, bak)?;
        }
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Fsyncs a directory, so names created or renamed in it survive a power loss. EINVAL (a
/// filesystem that does not sync directories) is not an error.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir).and_then(|d| d.sync_all()) {
        Err(e) if e.kind() == io::ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_keeps_a_backup_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("t.json");
        let bak = with_suffix(&p, ".bak");
        replace(&p, b"one", Some(&bak)).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"one");
        assert!(!bak.exists(), "nothing to back up the first time");
        replace(&p, b"two", Some(&bak)).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read(&bak).unwrap(), b"one");
        replace(&p, b"three", None).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"three");
        assert_eq!(std::fs::read(&bak).unwrap(), b"one");
        assert!(!with_suffix(&p, ".tmp").exists());
    }
}
