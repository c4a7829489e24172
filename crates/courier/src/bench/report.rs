//! Presentation helpers shared by every bench: progress bars on stderr (hidden when stderr is not
//! a terminal or the user asked for JSON only), a plain-text table, target verdicts, latency
//! percentiles, process memory and the single JSON line on stdout.
//!
//! Units are fixed so figures compare across benches: MB/s and GB/s are decimal (10^6 / 10^9
//! bytes per second); sizes given to users in MiB/GiB are binary; latencies are microseconds.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

/// The bars currently on screen, so log lines can be printed above them instead of through them.
static ON_SCREEN: OnceLock<MultiProgress> = OnceLock::new();

/// stderr for the logger: while progress bars are drawn, each log line is written with the bars
/// cleared and redrawn after it.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match ON_SCREEN.get() {
            Some(m) => m
                .suspend(|| std::io::stderr().write_all(buf))
                .map(|_| buf.len()),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Factory for progress bars that all draw on stderr, or nowhere.
pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    /// Bars are drawn only when `wanted` and stderr is a terminal, so logs and CI output stay clean.
    pub fn new(wanted: bool) -> Self {
        let multi = (wanted && std::io::stderr().is_terminal())
            .then(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10)));
        if let Some(m) = &multi {
            // One bench per process; a second Progress keeps logging around the first's bars.
            let _ = ON_SCREEN.set(m.clone());
        }
        Progress { multi }
    }

    /// A bar counting `len` units of work, labelled `msg`. `unit` is shown after the rate.
    pub fn bar(&self, len: u64, msg: impl Into<String>, unit: &str) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let template = format!(
            "{{msg:32}} [{{bar:30.cyan/blue}}] {{percent:>3}}% {{per_sec:>14}} {unit} eta {{eta}}"
        );
        let style = ProgressStyle::with_template(&template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let pb = multi.add(ProgressBar::new(len.max(1)));
        pb.set_style(style);
        pb.set_message(msg.into());
        pb
    }

    /// A spinner for work without a known size (timed phases, reopen).
    pub fn spinner(&self, msg: impl Into<String>) -> ProgressBar {
        let Some(multi) = &self.multi else {
            return ProgressBar::hidden();
        };
        let pb = multi.add(ProgressBar::new_spinner());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.set_message(msg.into());
        pb.enable_steady_tick(Duration::from_millis(100));
        pb
    }
}

/// One row of the targets section: what was measured, what was asked, and whether it passed.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub name: String,
    pub measured: f64,
    /// `>=` (measured must reach the target) or `<` (measured must stay below it).
    pub comparison: &'static str,
    pub target: f64,
    pub unit: &'static str,
    pub pass: bool,
    /// Context that changes how to read the verdict (e.g. a scaled-down run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl Verdict {
    pub fn at_least(name: &str, measured: f64, target: f64, unit: &'static str) -> Self {
        Verdict {
            name: name.into(),
            measured,
            comparison: ">=",
            target,
            unit,
            pass: measured.is_finite() && measured >= target,
            note: None,
        }
    }

    pub fn below(name: &str, measured: f64, target: f64, unit: &'static str) -> Self {
        Verdict {
            name: name.into(),
            measured,
            comparison: "<",
            target,
            unit,
            pass: measured.is_finite() && measured < target,
            note: None,
        }
    }

    pub fn with_note(mut self, note: Option<String>) -> Self {
        self.note = note;
        self
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Latency {
    /// Sorts `samples_us` in place and reads the percentiles off it.
    pub fn from_samples(samples_us: &mut [u64]) -> Self {
        if samples_us.is_empty() {
            return Latency::default();
        }
        samples_us.sort_unstable();
        let at = |q: f64| {
            let idx = ((samples_us.len() as f64 - 1.0) * q).round() as usize;
            samples_us[idx.min(samples_us.len() - 1)]
        };
        Latency {
            p50_us: at(0.50),
            p99_us: at(0.99),
            p999_us: at(0.999),
            max_us: samples_us[samples_us.len() - 1],
        }
    }
}

/// Resident memory of this process split the way Linux accounts it: anonymous (heap, stacks) vs
/// file-backed (mapped segments, which the kernel can drop under pressure).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rss {
    pub rss_anon_kib: u64,
    pub rss_file_kib: u64,
}

/// Reads RssAnon/RssFile from /proc/self/status; `None` where that file does not exist.
pub fn read_rss() -> Option<Rss> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    Some(Rss {
        rss_anon_kib: status_kib(&status, "RssAnon:")?,
        rss_file_kib: status_kib(&status, "RssFile:")?,
    })
}

/// The kB figure of one `/proc/<pid>/status` line, `name` including its colon.
pub fn status_kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Decimal megabytes per second.
pub fn mb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9)
}

/// Items per second.
pub fn per_s(count: u64, elapsed: Duration) -> f64 {
    count as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Human-readable binary size, e.g. `1.0 GiB`.
pub fn fmt_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// Human-readable count with SI suffix, e.g. `1.23M`.
pub fn fmt_count(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// A plain-text table with a title, right-aligned numeric-looking cells.
pub struct Table {
    title: String,
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: &str, headers: &[&str]) -> Self {
        Table {
            title: title.into(),
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let cols = self.headers.len();
        let mut width: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for r in &self.rows {
            for (i, c) in r.iter().enumerate().take(cols) {
                width[i] = width[i].max(c.chars().count());
            }
        }
        let mut out = format!("{}\n", self.title);
        let line = |cells: &[String], out: &mut String| {
            for (i, w) in width.iter().enumerate() {
                let c = cells.get(i).map(String::as_str).unwrap_or("");
                if i == 0 {
                    out.push_str(&format!("  {c:<w$}"));
                } else {
                    out.push_str(&format!("  {c:>w$}"));
                }
            }
            out.push('\n');
        };
        line(&self.headers, &mut out);
        let rule: Vec<String> = width.iter().map(|w| "-".repeat(*w)).collect();
        line(&rule, &mut out);
        for r in &self.rows {
            line(r, &mut out);
        }
        out
    }
}

/// Writes `value` as exactly one line of JSON on stdout; the only thing a bench prints there.
pub fn emit_json_line<T: Serialize>(value: &T) -> anyhow::Result<()> {
    let line = serde_json::to_string(value)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").map_err(|e| {
        anyhow::anyhow!("could not write the JSON result to stdout ({e}); is the pipe closed?")
    })?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_samples() {
        let mut s: Vec<u64> = (1..=1000).rev().collect();
        let l = Latency::from_samples(&mut s);
        assert_eq!(l.p50_us, 501);
        assert_eq!(l.p99_us, 990);
        assert_eq!(l.max_us, 1000);
        assert_eq!(Latency::from_samples(&mut []).max_us, 0);
    }

    #[test]
    fn verdicts_compare_in_the_stated_direction() {
        assert!(Verdict::at_least("x", 2.0, 1.0, "u").pass);
        assert!(!Verdict::at_least("x", 0.5, 1.0, "u").pass);
        assert!(Verdict::below("x", 0.5, 1.0, "s").pass);
        assert!(!Verdict::below("x", f64::NAN, 1.0, "s").pass);
    }

    #[test]
    fn tables_align_columns() {
        let mut t = Table::new("T", &["name", "value"]);
        t.row(vec!["a".into(), "1".into()]);
        t.row(vec!["long name".into(), "12345".into()]);
        let s = t.render();
        assert!(s.contains("  long name  12345"));
        assert!(s.contains("  a              1"));
        assert_eq!(fmt_bytes(1 << 30), "1.0 GiB");
        assert_eq!(fmt_count(1_234_567.0), "1.23M");
    }
}
