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
//! it reads, and the fingerprints of the stages it consumes
//! ([`Stage::after`]), so redoing one stage redoes every stage that depends
//! on it, directly or not, and no other.

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
    /// Earlier stages whose outputs it consumes.
    pub after: &'static [&'static str],
}

/// The stages of one run.
pub struct Stages {
    dir: PathBuf,
    n: usize,
    k: usize,
    start: Instant,
    /// Fingerprints of the stages so far, by name.
    fingerprints: std::collections::BTreeMap<String, String>,
    pub timings: Vec<StageTiming>,
    /// Stages that ran in this session (not skipped).
    pub ran: Vec<String>,
    /// Stop once this stage is done (see [`StoppedAfter`]).
    pub until: Option<String>,
    until_done: bool,
}

/// The error [`Stages::run`] returns for the stage after `until`: the run
/// stopped there on purpose (one Slurm job per stage).
#[derive(Debug, thiserror::Error)]
#[error("stopped after stage {0} (--until)")]
pub struct StoppedAfter(pub String);

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
            fingerprints: Default::default(),
            timings: Vec::new(),
            ran: Vec::new(),
            until: None,
            until_done: false,
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
        for dep in stage.after {
            let f = self.fingerprints.get(*dep).map_or("", String::as_str);
            h.update(format!("{dep}={f}\0").as_bytes());
        }
        format!("{:x}", h.finalize())
    }

    /// Run `stage` (or skip it, see the module docs); `f` returns the
    /// stage's outputs and its equivalent commands.
    pub fn run<T: Serialize + DeserializeOwned>(
        &mut self,
        stage: Stage,
        f: impl FnOnce() -> anyhow::Result<(T, Vec<String>)>,
    ) -> anyhow::Result<T> {
        if self.until_done {
            let until = self.until.clone().unwrap_or_default();
            return Err(StoppedAfter(until).into());
        }
        self.until_done = self.until.as_deref() == Some(stage.name);
        self.k += 1;
        let head = format!("[{}/{}] {}", self.k, self.n, stage.name);
        let fingerprint = self.fingerprint(&stage);
        self.fingerprints
            .insert(stage.name.to_string(), fingerprint.clone());
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stage(name: &'static str, inputs: serde_json::Value, out: &Path) -> Stage<'static> {
        Stage {
            name,
            expected_seconds: 1.0,
            inputs,
            outputs: vec![out.to_path_buf()],
            after: if name == "b" { &["a"] } else { &[] },
        }
    }

    /// Runs stages a and b (a's outputs in `dir/a`), returning which ran.
    fn two(dir: &Path, a_inputs: serde_json::Value, fail_a: bool) -> anyhow::Result<Vec<String>> {
        let mut st = Stages::new(dir.join("stages"), 3)?;
        let a_out = dir.join("a");
        st.run(stage("a", a_inputs, &a_out), || {
            std::fs::create_dir_all(&a_out)?;
            std::fs::write(a_out.join("part"), b"x")?;
            if fail_a {
                anyhow::bail!("interrupted");
            }
            Ok((7u32, vec!["saev a".to_string()]))
        })?;
        st.run(stage("b", json!({"same": true}), &dir.join("b")), || {
            Ok((8u32, Vec::new()))
        })?;
        // c consumes nothing of a: never redone for a's sake.
        st.run(stage("c", json!({}), &dir.join("c")), || {
            Ok((9u32, Vec::new()))
        })?;
        Ok(st.ran)
    }

    #[test]
    fn a_changed_input_redoes_its_stage_and_every_later_one() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert_eq!(two(dir, json!({"x": 1}), false).unwrap(), ["a", "b", "c"]);
        assert!(two(dir, json!({"x": 1}), false).unwrap().is_empty());
        // New settings for a: a and b again, a's old outputs cleared first.
        std::fs::write(dir.join("a/stale"), b"old").unwrap();
        assert_eq!(two(dir, json!({"x": 2}), false).unwrap(), ["a", "b"]);
        assert!(!dir.join("a/stale").exists());
    }

    #[test]
    fn an_interrupted_stage_continues_on_its_partial_outputs() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert!(two(dir, json!({"x": 1}), true).is_err());
        std::fs::write(dir.join("a/kept"), b"partial").unwrap();
        assert_eq!(two(dir, json!({"x": 1}), false).unwrap(), ["a", "b", "c"]);
        assert!(
            dir.join("a/kept").exists(),
            "a resumed stage keeps its work"
        );
    }

    #[test]
    fn a_record_missing_a_field_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        two(dir, json!({"x": 1}), false).unwrap();
        let path = dir.join("stages/a.json");
        let mut rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        rec.as_object_mut().unwrap().remove("outputs");
        std::fs::write(&path, rec.to_string()).unwrap();
        let e = format!("{:#}", two(dir, json!({"x": 1}), false).unwrap_err());
        assert!(e.contains("a.json") && e.contains("outputs"), "{e}");
    }
}
