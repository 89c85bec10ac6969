//! Progress a user can see, on a terminal or not.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Longest gap between two log lines when stderr is not a terminal
/// (`SAEV_PROGRESS_SECS` overrides it, e.g. for tests).
const LOG_EVERY: Duration = Duration::from_secs(30);

/// A progress report for one long piece of work: `what` done out of a
/// total, counted in `unit`s.
///
/// On a terminal it is an indicatif bar; otherwise the bar is hidden and
/// every update at least [`LOG_EVERY`] after the last line logs one
/// `tracing` line: `train: 40960/1000000 examples (3012/s), loss 0.41, 5 min left`.
/// Cheap to update from many threads.
pub struct Progress {
    bar: ProgressBar,
    what: String,
    unit: String,
    /// Counts are bytes (shown as KiB, MiB on a terminal, MB in log lines).
    bytes: bool,
    lines: Option<Lines>,
}

/// State of the log-line mode.
struct Lines {
    every: Duration,
    last: Mutex<Instant>,
}

impl Progress {
    /// A report of `total` `unit`s (0 when not yet known), called `what`.
    pub fn new(what: &str, total: u64, unit: &str) -> Progress {
        let terminal = std::io::stderr().is_terminal();
        Self::with_mode(what, total, unit, !terminal)
    }

    /// A report of `total` bytes.
    pub fn bytes(what: &str, total: u64) -> Progress {
        let mut p = Self::new(what, total, "bytes");
        p.bytes = true;
        let template = format!(
            "{what} [{{bar:30}}] {{bytes}}/{{total_bytes}} ({{bytes_per_sec}}, eta {{eta}}) {{msg}}"
        );
        if let Ok(style) = ProgressStyle::with_template(&template) {
            p.bar.set_style(style.progress_chars("=> "));
        }
        p
    }

    /// As [`Progress::new`], choosing log lines (`true`) or a bar.
    pub fn with_mode(what: &str, total: u64, unit: &str, log_lines: bool) -> Progress {
        let bar = ProgressBar::new(total);
        let template = format!(
            "{what} [{{bar:30}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}}) {{msg}}"
        );
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let lines = log_lines.then(|| {
            bar.set_draw_target(ProgressDrawTarget::hidden());
            Lines {
                every: log_interval(),
                last: Mutex::new(Instant::now()),
            }
        });
        Progress {
            bar,
            what: what.to_string(),
            unit: unit.to_string(),
            bytes: false,
            lines,
        }
    }

    pub fn set_length(&self, total: u64) {
        self.bar.set_length(total);
    }

    /// Start counting at `done` (a resumed run): rates and time left count from here.
    pub fn start_at(&self, done: u64) {
        self.bar.set_position(done);
        self.bar.reset_eta();
        self.bar.reset_elapsed();
        if let Some(l) = &self.lines {
            *l.last.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        }
    }

    pub fn set_position(&self, done: u64) {
        self.bar.set_position(done);
        self.maybe_log();
    }

    pub fn inc(&self, n: u64) {
        self.bar.inc(n);
        self.maybe_log();
    }

    /// The free text after the counts (losses, accuracies).
    pub fn set_message(&self, msg: impl Into<String>) {
        self.bar.set_message(msg.into());
    }

    /// Print a line above the bar (or log it).
    pub fn println(&self, line: impl AsRef<str>) {
        match &self.lines {
            Some(_) => tracing::info!("{}", line.as_ref()),
            None => self.bar.println(line.as_ref()),
        }
    }

    /// Remove the bar; log a last line in log mode.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
        if self.lines.is_some() {
            tracing::info!("{}", self.line());
        }
    }

    /// The log line for the current state.
    pub fn line(&self) -> String {
        let done = self.bar.position();
        let total = self.bar.length().unwrap_or(0);
        let secs = self.bar.elapsed().as_secs_f64();
        let rate = self.bar.per_sec();
        let mut s = if self.bytes {
            let mb = |b: f64| format!("{:.1} MB", b / 1e6);
            let (d, t, r) = (mb(done as f64), mb(total as f64), mb(rate));
            format!("{}: {d}/{t} ({r}/s", self.what)
        } else {
            format!("{}: {done}/{total} {} ({rate:.0}/s", self.what, self.unit)
        };
        s += &format!(", {} elapsed", human(secs));
        if total > done && rate > 0.0 {
            s += &format!(", {} left", human((total - done) as f64 / rate));
        }
        s += ")";
        let msg = self.bar.message();
        if !msg.is_empty() {
            s += &format!(" {msg}");
        }
        s
    }

    fn maybe_log(&self) {
        let Some(l) = &self.lines else { return };
        let mut last = l.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= l.every {
            *last = Instant::now();
            drop(last);
            tracing::info!("{}", self.line());
        }
    }
}

fn log_interval() -> Duration {
    std::env::var("SAEV_PROGRESS_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(LOG_EVERY, Duration::from_secs_f64)
}

/// Seconds as people say them: `42 s`, `12 min`, `3.5 h`.
pub fn human(s: f64) -> String {
    if s < 90.0 {
        format!("{s:.0} s")
    } else if s < 5400.0 {
        format!("{:.0} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_carry_counts_rate_message_and_time_left() {
        let p = Progress::with_mode("train", 1000, "examples", true);
        p.set_position(250);
        p.set_message("loss 0.41");
        let line = p.line();
        assert!(line.starts_with("train: 250/1000 examples ("), "{line}");
        assert!(line.ends_with(" loss 0.41"), "{line}");
        assert!(line.contains("elapsed"), "{line}");
        assert_eq!(human(42.0), "42 s");
        assert_eq!(human(720.0), "12 min");
        assert_eq!(human(12600.0), "3.5 h");
    }
}
