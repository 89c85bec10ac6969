//! Running stages: skipped when their record says they ran on the same
//! inputs, redone (with everything after them) when an input changed.
//!
//! Before a stage runs it writes `stages/<name>.started.json` with its
//! fingerprint; when it finishes, `stages/<name>.json` ([`StageRecord`]).
//! On the next run:
//! - record with the same fingerprint: skipped, its outputs read back;
//! - started with the same fingerprint but not finished: run again, and the
//!   stage's own resume (shards, checkpoints) continues the work;
//! - anything else (new settings, a changed input): its output folders are
//!   cleared and it runs from scratch.
//!
//! A fingerprint hashes the stage's settings, the identities of the files
//! it reads, and the fingerprints of the stages before it, so redoing one
//! stage redoes every later one.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the stage records.
pub const FORMAT_VERSION: u32 = 1;

/// `stages/<name>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageRecord<T> {
    pub format_version: u32,
    pub stage: String,
    pub fingerprint: String,
    pub seconds: f64,
    pub expected_seconds: f64,
    /// The equivalent `saev` command lines.
    pub commands: Vec<String>,
    pub outputs: T,
}

/// `stages/<name>.started.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Started {
    format_version: u32,
    stage: String,
    fingerprint: String,
}

/// How one stage went, for the report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StageTiming {
    pub stage: String,
    pub seconds: f64,
    pub expected_seconds: f64,
    pub commands: Vec<String>,
    /// Done in an earlier session and skipped in this one.
    pub skipped: bool,
}

/// What a stage declares before it runs.
pub struct Stage<'a> {
    pub name: &'a str,
    pub expected_seconds: f64,
    /// Settings and input identities (anything serializable).
    pub inputs: serde_json::Value,
    /// Folders its outputs go to, cleared when its inputs changed.
    pub outputs: Vec<PathBuf>,
}

/// The stages of one run.
pub struct Stages {
    dir: PathBuf,
    n: usize,
    k: usize,
    start: Instant,
    /// The fingerprint of the stages so far (chained into the next).
    chain: String,
    pub timings: Vec<StageTiming>,
    /// Stages that ran in this session (not skipped).
    pub ran: Vec<String>,
}

fn read_json<T: DeserializeOwned>(path: &Path) -> anyhow::Result<Option<T>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b).map_err(|e| {
            anyhow::anyhow!("{}: {e} (delete it to redo the stage)", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("{}: {e}", path.display())),
    }
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> anyhow::Result<()> {
    saev_io::write_atomic(path, serde_json::to_string_pretty(v)?.as_bytes())?;
    Ok(())
}

impl Stages {
    pub fn new(dir: PathBuf, n: usize) -> anyhow::Result<Stages> {
        std::fs::create_dir_all(&dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        saev_io::remove_stale_temps(&dir)?;
        Ok(Stages {
            dir,
            n,
            k: 0,
            start: Instant::now(),
            chain: String::new(),
            timings: Vec::new(),
            ran: Vec::new(),
        })
    }

    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn fingerprint(&self, stage: &Stage) -> String {
        let mut h = Sha256::new();
        h.update(stage.name.as_bytes());
        h.update(b"\0");
        h.update(stage.inputs.to_string().as_bytes());
        h.update(b"\0");
        h.update(self.chain.as_bytes());
        format!("{:x}", h.finalize())
    }

    /// Run `stage` (or skip it, see the module docs); `f` returns the
    /// stage's outputs and its equivalent commands.
    pub fn run<T: Serialize + DeserializeOwned>(
        &mut self,
        stage: Stage,
        f: impl FnOnce() -> anyhow::Result<(T, Vec<String>)>,
    ) -> anyhow::Result<T> {
        self.k += 1;
        let head = format!("[{}/{}] {}", self.k, self.n, stage.name);
        let fingerprint = self.fingerprint(&stage);
        self.chain = fingerprint.clone();
        let done_path = self.dir.join(format!("{}.json", stage.name));
        let started_path = self.dir.join(format!("{}.started.json", stage.name));
        let done: Option<StageRecord<T>> = read_json(&done_path)?;
        if let Some(rec) = done.filter(|r| r.fingerprint == fingerprint) {
            println!("{head}: done earlier ({:.0} s then), skipped", rec.seconds);
            self.timings.push(StageTiming {
                stage: rec.stage,
                seconds: rec.seconds,
                expected_seconds: rec.expected_seconds,
                commands: rec.commands,
                skipped: true,
            });
            return Ok(rec.outputs);
        }
        let started: Option<Started> = read_json(&started_path)?;
        let resuming = started.is_some_and(|s| s.fingerprint == fingerprint);
        if !resuming && (done_path.exists() || started_path.exists()) {
            println!("{head}: its inputs changed; redoing it and every stage after it");
        }
        if !resuming {
            for dir in &stage.outputs {
                clear(dir)?;
            }
        }
        let _ = std::fs::remove_file(&done_path);
        let marker = Started {
            format_version: FORMAT_VERSION,
            stage: stage.name.into(),
            fingerprint: fingerprint.clone(),
        };
        write_json(&started_path, &marker)?;
        println!(
            "{head}: {} (expected about {}; {} elapsed in all)",
            if resuming { "continued" } else { "started" },
            saev_io::human(stage.expected_seconds),
            saev_io::human(self.elapsed())
        );
        let t = Instant::now();
        let (outputs, commands) =
            f().map_err(|e| anyhow::anyhow!("stage {}: {e:#}", stage.name))?;
        let seconds = t.elapsed().as_secs_f64();
        let rec = StageRecord {
            format_version: FORMAT_VERSION,
            stage: stage.name.into(),
            fingerprint,
            seconds,
            expected_seconds: stage.expected_seconds,
            commands,
            outputs,
        };
        write_json(&done_path, &rec)?;
        let _ = std::fs::remove_file(&started_path);
        println!("{head}: done in {}", saev_io::human(seconds));
        self.timings.push(StageTiming {
            stage: rec.stage,
            seconds,
            expected_seconds: rec.expected_seconds,
            commands: rec.commands,
            skipped: false,
        });
        self.ran.push(stage.name.into());
        Ok(rec.outputs)
    }
}

/// Remove a stage's output folder (or file), if any.
fn clear(path: &Path) -> anyhow::Result<()> {
    let r = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(anyhow::anyhow!("{}: {e}", path.display()))
        }
        _ => Ok(()),
    }
}
