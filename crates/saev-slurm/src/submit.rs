//! `sbatch` and waiting on its jobs, through Slurm's own commands.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::script::{render, JobSpec};
use crate::SlurmConfig;

/// A job submitted (or, in a dry run, only written).
#[derive(Clone, Debug)]
pub struct Submitted {
    /// `None` in a dry run.
    pub job_id: Option<String>,
    pub script: PathBuf,
}

/// How one array task ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskResult {
    pub task: usize,
    /// Its command's exit status; `None` if it never finished (cancelled,
    /// killed, timed out, or never started).
    pub exit: Option<i32>,
}

impl TaskResult {
    pub fn ok(&self) -> bool {
        self.exit == Some(0)
    }
}

/// Write `job`'s script to `<log_dir>/<name>.sbatch` and submit it.
pub fn submit(cfg: &SlurmConfig, job: &JobSpec) -> anyhow::Result<Submitted> {
    std::fs::create_dir_all(&job.log_dir)
        .with_context(|| format!("creating {}", job.log_dir.display()))?;
    let script = job.log_dir.join(format!("{}.sbatch", job.name));
    saev_io::write_atomic(&script, render(cfg, job).as_bytes())
        .with_context(|| format!("writing {}", script.display()))?;
    if cfg.dry_run {
        return Ok(Submitted {
            job_id: None,
            script,
        });
    }
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(&script)
        .output()
        .context("running sbatch (is Slurm installed and SLURM_CONF set?)")?;
    if !out.status.success() {
        anyhow::bail!(
            "sbatch {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() {
        anyhow::bail!("sbatch {} printed no job id", script.display());
    }
    Ok(Submitted {
        job_id: Some(id),
        script,
    })
}

/// The job's tasks still queued or running, with their state and reason.
fn queued(job_id: &str) -> anyhow::Result<Vec<String>> {
    let out = Command::new("squeue")
        .args(["-h", "-r", "-j", job_id, "-o", "%i %T %r"])
        .output()
        .context("running squeue")?;
    if !out.status.success() {
        // Slurm forgets a job some minutes after it ended.
        return Ok(Vec::new());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().map(str::to_string).collect())
}

/// Wait until job `job_id` (an array of `parts` tasks whose statuses go to
/// `log_dir`) has left the queue, then say how each task ended. A task
/// whose dependency can never be met is cancelled and counts as failed.
pub fn wait(
    job_id: &str,
    parts: usize,
    log_dir: &std::path::Path,
) -> anyhow::Result<Vec<TaskResult>> {
    let start = Instant::now();
    let mut last_line = Instant::now();
    loop {
        let left = queued(job_id)?;
        if left.is_empty() {
            break;
        }
        if left.iter().any(|l| l.contains("DependencyNeverSatisfied")) {
            tracing::warn!("job {job_id}: an earlier job failed; cancelling it");
            let _ = Command::new("scancel").arg(job_id).status();
        }
        if last_line.elapsed() > Duration::from_secs(30) {
            tracing::info!(
                "job {job_id}: {} task(s) queued or running after {:.0} s",
                left.len(),
                start.elapsed().as_secs_f64()
            );
            last_line = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let results = (0..parts.max(1))
        .map(|task| {
            let path = log_dir.join(format!("{job_id}_{task}.exit"));
            let exit = std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            TaskResult { task, exit }
        })
        .collect();
    Ok(results)
}

/// [`wait`], then an error listing every task that did not succeed (with
/// its log) unless all did; `Ok` gives the number of tasks.
pub fn wait_all_ok(job_id: &str, parts: usize, log_dir: &std::path::Path) -> anyhow::Result<usize> {
    let results = wait(job_id, parts, log_dir)?;
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.ok())
        .map(|r| match r.exit {
            Some(code) => format!(
                "task {} exited {code} (see {}/{job_id}_{}.err)",
                r.task,
                log_dir.display(),
                r.task
            ),
            None => format!(
                "task {} did not finish (cancelled, killed, timed out, or an earlier job failed)",
                r.task
            ),
        })
        .collect();
    if !failed.is_empty() {
        anyhow::bail!(
            "job {job_id}: {} of {} task(s) failed:\n  {}",
            failed.len(),
            results.len(),
            failed.join("\n  ")
        );
    }
    Ok(results.len())
}
