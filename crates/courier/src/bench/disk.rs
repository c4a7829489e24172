//! The disk baseline the store is judged against, measured in the store's own directory:
//! sequential write bandwidth (1 MiB O_DIRECT writes into a preallocated file, closed by one
//! fdatasync) and the single-writer fdatasync rate (4 KiB write + fdatasync, repeated). Uses `fio`
//! when it is installed, else the built-in writer below.
//!
//! Both files are preallocated with posix_fallocate like the store's CommitLog segments, so the
//! baseline pays the same extent costs the store does. Files are removed before returning.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::Serialize;

use super::report::{mb_per_s, per_s, Latency, Progress};

/// What the disk did on its own.
#[derive(Debug, Clone, Serialize)]
pub struct DiskBaseline {
    /// `fio` or `builtin`.
    pub tool: &'static str,
    /// False when the filesystem refused O_DIRECT (e.g. tmpfs) and buffered writes were timed.
    pub direct_io: bool,
    pub seq_write_bytes: u64,
    pub seq_write_seconds: f64,
    pub seq_write_mb_s: f64,
    pub fdatasync_count: u64,
    pub fdatasync_seconds: f64,
    pub fdatasync_per_s: f64,
    /// Per write+fdatasync round trip; absent from fio runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fdatasync_latency: Option<Latency>,
}

const SEQ_BLOCK: usize = 1 << 20;
const SYNC_BLOCK: usize = 4096;
/// Room for the fdatasync loop; it wraps around if the disk is faster than this allows.
const SYNC_FILE_BYTES: u64 = 256 << 20;

/// Measures the disk under `dir` with `seq_bytes` of sequential writes and `sync_for` of fdatasync.
pub fn measure(
    dir: &Path,
    seq_bytes: u64,
    sync_for: Duration,
    progress: &Progress,
) -> anyhow::Result<DiskBaseline> {
    if fio_available() {
        match measure_with_fio(dir, seq_bytes, sync_for, progress) {
            Ok(b) => return Ok(b),
            Err(e) => tracing::warn!("fio failed ({e:#}); falling back to the built-in writer"),
        }
    }
    let seq_bytes = seq_bytes.div_ceil(SEQ_BLOCK as u64).max(1) * SEQ_BLOCK as u64;
    let (direct_io, seq_elapsed) = sequential_write(dir, seq_bytes, progress)?;
    let (count, sync_elapsed, latency) = fdatasync_loop(dir, sync_for, progress)?;
    Ok(DiskBaseline {
        tool: "builtin",
        direct_io,
        seq_write_bytes: seq_bytes,
        seq_write_seconds: seq_elapsed.as_secs_f64(),
        seq_write_mb_s: mb_per_s(seq_bytes, seq_elapsed),
        fdatasync_count: count,
        fdatasync_seconds: sync_elapsed.as_secs_f64(),
        fdatasync_per_s: per_s(count, sync_elapsed),
        fdatasync_latency: Some(latency),
    })
}

/// A heap buffer aligned for O_DIRECT (4 KiB covers every common logical block size).
struct AlignedBuf {
    ptr: *mut u8,
    layout: std::alloc::Layout,
}

impl AlignedBuf {
    fn new(len: usize) -> anyhow::Result<Self> {
        let layout = std::alloc::Layout::from_size_align(len, 4096)
            .context("invalid O_DIRECT buffer layout")?;
        // SAFETY: the layout has a non-zero size; the pointer is checked for null below.
        let ptr = unsafe { std::alloc::alloc_zeroed(layout) };
        if ptr.is_null() {
            bail!("out of memory allocating a {len}-byte I/O buffer; free some memory and retry");
        }
        let mut buf = AlignedBuf { ptr, layout };
        // Non-repeating bytes so a compressing or deduplicating virtual disk cannot shortcut the writes.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for chunk in buf.as_mut_slice().chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.copy_from_slice(&x.to_le_bytes()[..chunk.len()]);
        }
        Ok(buf)
    }

    fn as_slice(&self) -> &[u8] {
        // SAFETY: ptr is a live allocation of layout.size() initialised bytes owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self guarantees exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr, self.layout.size()) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: ptr was allocated with exactly this layout and is freed once.
        unsafe { std::alloc::dealloc(self.ptr, self.layout) }
    }
}

/// Removes the scratch file however the measurement ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn preallocate(file: &File, path: &Path, len: u64) -> anyhow::Result<()> {
    // SAFETY: plain syscall on an fd we own.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    match rc {
        0 => Ok(()),
        // Filesystems without fallocate still work for the measurement; they just grow the file.
        libc::EOPNOTSUPP | libc::EINVAL => Ok(()),
        libc::ENOSPC => bail!(
            "no space to preallocate {} for the disk baseline in {}; free space or pass a smaller --bytes / another --dir",
            super::report::fmt_bytes(len),
            path.display()
        ),
        e => Err(std::io::Error::from_raw_os_error(e)).with_context(|| {
            format!("could not preallocate {}; check the directory is writable", path.display())
        }),
    }
}

fn sequential_write(
    dir: &Path,
    bytes: u64,
    progress: &Progress,
) -> anyhow::Result<(bool, Duration)> {
    let path = dir.join("disk-baseline-seq.tmp");
    let _scratch = Scratch(path.clone());
    let open = |direct: bool| {
        let mut o = OpenOptions::new();
        o.write(true).create(true).truncate(true);
        if direct {
            o.custom_flags(libc::O_DIRECT);
        }
        o.open(&path)
    };
    let (file, direct_io) = match open(true) {
        Ok(f) => (f, true),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
            tracing::warn!(
                "{} does not support O_DIRECT; timing buffered writes + fdatasync instead",
                dir.display()
            );
            (
                open(false).with_context(|| format!("could not create {}", path.display()))?,
                false,
            )
        }
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "could not create {}; check --dir is writable",
                    path.display()
                )
            })
        }
    };
    preallocate(&file, &path, bytes)?;
    let buf = AlignedBuf::new(SEQ_BLOCK)?;
    let pb = progress.bar(bytes, "disk: sequential write", "B/s");
    let start = Instant::now();
    let mut off = 0u64;
    while off < bytes {
        file.write_all_at(buf.as_slice(), off)
            .with_context(|| format!("write to {} failed; is the disk full?", path.display()))?;
        off += SEQ_BLOCK as u64;
        pb.inc(SEQ_BLOCK as u64);
    }
    file.sync_data()
        .with_context(|| format!("fdatasync of {} failed", path.display()))?;
    let elapsed = start.elapsed();
    pb.finish_and_clear();
    Ok((direct_io, elapsed))
}

fn fdatasync_loop(
    dir: &Path,
    duration: Duration,
    progress: &Progress,
) -> anyhow::Result<(u64, Duration, Latency)> {
    let path = dir.join("disk-baseline-sync.tmp");
    let _scratch = Scratch(path.clone());
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)
        .with_context(|| {
            format!(
                "could not create {}; check --dir is writable",
                path.display()
            )
        })?;
    preallocate(&file, &path, SYNC_FILE_BYTES)?;
    file.sync_all()
        .with_context(|| format!("fsync of {} failed", path.display()))?;
    let buf = AlignedBuf::new(SYNC_BLOCK)?;
    let pb = progress.spinner("disk: 4 KiB write + fdatasync loop");
    let mut samples = Vec::with_capacity(64 * 1024);
    let start = Instant::now();
    let mut off = 0u64;
    while start.elapsed() < duration {
        let t = Instant::now();
        file.write_all_at(buf.as_slice(), off)
            .with_context(|| format!("write to {} failed; is the disk full?", path.display()))?;
        file.sync_data()
            .with_context(|| format!("fdatasync of {} failed", path.display()))?;
        samples.push(t.elapsed().as_micros() as u64);
        off = (off + SYNC_BLOCK as u64) % SYNC_FILE_BYTES;
    }
    let elapsed = start.elapsed();
    pb.finish_and_clear();
    let count = samples.len() as u64;
    Ok((count, elapsed, Latency::from_samples(&mut samples)))
}

fn fio_available() -> bool {
    Command::new("fio")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn measure_with_fio(
    dir: &Path,
    seq_bytes: u64,
    sync_for: Duration,
    progress: &Progress,
) -> anyhow::Result<DiskBaseline> {
    let pb = progress.spinner("disk: fio sequential write");
    let seq = run_fio(
        dir,
        &[
            "--name=courier-seq",
            "--rw=write",
            "--bs=1M",
            &format!("--size={seq_bytes}"),
            "--direct=1",
            "--ioengine=psync",
            "--fallocate=posix",
            "--end_fsync=1",
        ],
    )?;
    pb.set_message("disk: fio 4 KiB write + fdatasync");
    let secs = sync_for.as_secs_f64().ceil().max(1.0) as u64;
    let sync = run_fio(
        dir,
        &[
            "--name=courier-fdatasync",
            "--rw=write",
            "--bs=4k",
            &format!("--size={SYNC_FILE_BYTES}"),
            "--fdatasync=1",
            "--ioengine=psync",
            "--fallocate=posix",
            "--time_based",
            &format!("--runtime={secs}"),
        ],
    )?;
    pb.finish_and_clear();
    let (seq_bytes, seq_ms, _) = fio_write_figures(&seq)?;
    let (_, sync_ms, sync_ios) = fio_write_figures(&sync)?;
    let seq_elapsed = Duration::from_millis(seq_ms.max(1));
    let sync_elapsed = Duration::from_millis(sync_ms.max(1));
    Ok(DiskBaseline {
        tool: "fio",
        direct_io: true,
        seq_write_bytes: seq_bytes,
        seq_write_seconds: seq_elapsed.as_secs_f64(),
        seq_write_mb_s: mb_per_s(seq_bytes, seq_elapsed),
        fdatasync_count: sync_ios,
        fdatasync_seconds: sync_elapsed.as_secs_f64(),
        fdatasync_per_s: per_s(sync_ios, sync_elapsed),
        fdatasync_latency: None,
    })
}

fn run_fio(dir: &Path, args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let out = Command::new("fio")
        .arg(format!("--directory={}", dir.display()))
        .arg("--output-format=json")
        .arg("--unlink=1")
        .args(args)
        .output()
        .context("could not run fio")?;
    if !out.status.success() {
        bail!(
            "fio exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // fio may print notes before the JSON document.
    let text = String::from_utf8_lossy(&out.stdout);
    let json = text.find('{').map(|i| &text[i..]).unwrap_or("");
    serde_json::from_str(json).context("fio printed output that is not JSON")
}

/// (bytes written, runtime in ms, write I/O count) of the first job of a fio JSON report.
fn fio_write_figures(report: &serde_json::Value) -> anyhow::Result<(u64, u64, u64)> {
    let w = &report["jobs"][0]["write"];
    let get = |k: &str| {
        w[k].as_u64()
            .with_context(|| format!("fio report lacks jobs[0].write.{k}"))
    };
    Ok((get("io_bytes")?, get("runtime")?, get("total_ios")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_baseline_measures_a_small_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = Progress::new(false);
        let (_, elapsed) = sequential_write(dir.path(), 4 << 20, &p).expect("seq write");
        assert!(elapsed > Duration::ZERO);
        let (n, _, lat) = fdatasync_loop(dir.path(), Duration::from_millis(50), &p).expect("sync");
        assert!(n >= 1);
        assert!(lat.max_us >= lat.p50_us);
        // Scratch files are gone afterwards.
        assert_eq!(std::fs::read_dir(dir.path()).expect("ls").count(), 0);
    }

    #[test]
    fn fio_reports_are_read_from_the_first_job() {
        let v: serde_json::Value = serde_json::from_str(
            r#"{"jobs":[{"write":{"io_bytes":1048576,"runtime":250,"total_ios":1,"bw_bytes":4194304}}]}"#,
        )
        .expect("json");
        assert_eq!(fio_write_figures(&v).expect("figures"), (1048576, 250, 1));
        assert!(fio_write_figures(&serde_json::json!({})).is_err());
    }
}
