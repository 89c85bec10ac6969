//! `--slurm` and `--slurm.*`: run a command that works in parts as a Slurm
//! array job (`saev_slurm`), each task this same command with `--part I/N`.

use std::path::Path;

use clap::Args;
use saev_slurm::{JobSpec, SlurmConfig};

#[derive(Args, Clone, Debug, Default)]
pub struct SlurmArgs {
    /// Submit to Slurm (sbatch) as an array job of --slurm.parts tasks.
    #[arg(long, global = true)]
    slurm: bool,
    /// Tasks (parts of the work) in the array job.
    #[arg(global = true, long = "slurm.parts", default_value_t = 1, value_parser = crate::numbers::at_least_one::<usize>)]
    parts: usize,
    #[arg(global = true, long = "slurm.partition")]
    partition: Option<String>,
    #[arg(global = true, long = "slurm.account")]
    account: Option<String>,
    /// Time limit per task (e.g. 04:00:00).
    #[arg(global = true, long = "slurm.time")]
    time: Option<String>,
    #[arg(global = true, long = "slurm.gpus-per-task", value_parser = crate::numbers::at_least_one::<u32>)]
    gpus_per_task: Option<u32>,
    #[arg(global = true, long = "slurm.cpus-per-task", value_parser = crate::numbers::at_least_one::<u32>)]
    cpus_per_task: Option<u32>,
    /// Memory per task (e.g. 64G).
    #[arg(global = true, long = "slurm.mem")]
    mem: Option<String>,
    /// More sbatch options, e.g. "--qos=high --constraint=a100".
    #[arg(global = true, long = "slurm.extra", allow_hyphen_values = true)]
    extra: Option<String>,
    /// Wait for the job; exit 0 only if every task succeeded and the outputs verify.
    #[arg(global = true, long = "slurm.wait")]
    wait: bool,
    /// Write the batch script and submit nothing.
    #[arg(global = true, long = "slurm.dry-run")]
    dry_run: bool,
}

/// The flags that take a value (removed with it from the tasks' command).
const VALUED: [&str; 8] = [
    "--slurm.parts",
    "--slurm.partition",
    "--slurm.account",
    "--slurm.time",
    "--slurm.gpus-per-task",
    "--slurm.cpus-per-task",
    "--slurm.mem",
    "--slurm.extra",
];

/// `args` without any `--slurm` flag (and the values of those that take one).
pub fn without_slurm_flags(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut skip_value = false;
    for a in args {
        if skip_value {
            skip_value = false;
            continue;
        }
        if a == "--slurm" || a.starts_with("--slurm.") {
            skip_value = VALUED.contains(&a.as_str());
            continue;
        }
        out.push(a.clone());
    }
    out
}

impl SlurmArgs {
    /// Whether to submit rather than run here.
    pub fn submitting(&self) -> bool {
        self.slurm || self.dry_run
    }

    pub fn config(&self) -> SlurmConfig {
        SlurmConfig {
            parts: self.parts,
            partition: self.partition.clone(),
            account: self.account.clone(),
            time: self.time.clone(),
            gpus_per_task: self.gpus_per_task,
            cpus_per_task: self.cpus_per_task,
            mem: self.mem.clone(),
            extra: self
                .extra
                .as_deref()
                .unwrap_or("")
                .split_whitespace()
                .map(String::from)
                .collect(),
            wait: self.wait,
            dry_run: self.dry_run,
        }
    }

    /// Submit this very command (less its `--slurm` flags) as job `name`
    /// with logs under `<out>/slurm`, one part per task; with
    /// `--slurm.wait`, wait and then run `check` on the outputs.
    pub fn submit(
        &self,
        name: &str,
        out: &Path,
        check: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let job = Job {
            name: name.to_string(),
            extra: Vec::new(),
            parted: true,
        };
        self.submit_chain(out, vec![job], check)
    }

    /// Submit `jobs` in order, each after the one before succeeded
    /// (`--dependency=afterok`); each runs this command plus its `extra`.
    pub fn submit_chain(
        &self,
        out: &Path,
        jobs: Vec<Job>,
        check: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let cfg = self.config();
        let args: Vec<String> = std::env::args().skip(1).collect();
        let exe = std::env::current_exe()?.display().to_string();
        let cwd = std::env::current_dir()?;
        let log_dir = match out.is_absolute() {
            true => out.join("slurm"),
            false => cwd.join(out).join("slurm"),
        };
        let base: Vec<String> = std::iter::once(exe)
            .chain(without_slurm_flags(&args))
            .collect();
        let mut last: Option<(String, usize)> = None;
        for job in jobs {
            let spec = JobSpec {
                name: job.name,
                command: base.iter().cloned().chain(job.extra).collect(),
                log_dir: log_dir.clone(),
                workdir: cwd.clone(),
                after: last.iter().map(|(id, _)| id.clone()).collect(),
                parted: job.parted,
            };
            let n = saev_slurm::parts(&cfg, &spec);
            let sub = saev_slurm::submit(&cfg, &spec)?;
            match sub.job_id {
                None => println!(
                    "batch script: {} (dry run: nothing submitted)",
                    sub.script.display()
                ),
                Some(id) => {
                    println!("submitted job {id} ({n} task(s)): {}", sub.script.display());
                    last = Some((id, n));
                }
            }
        }
        let Some((id, n)) = last else {
            return Ok(());
        };
        println!("logs:  {}/<job>_<task>.{{out,err}}", log_dir.display());
        println!("watch: squeue -u $USER   (afterwards: sacct -j {id})");
        println!("a failed or cancelled task: run this same command again; finished work is kept");
        if !cfg.wait {
            return Ok(());
        }
        let n = saev_slurm::wait_all_ok(&id, n, &log_dir)?;
        check()?;
        println!("job {id}: all {n} task(s) succeeded and the outputs verify");
        Ok(())
    }
}

/// One job of a chain: its name, arguments added to the command, and
/// whether it runs in `--slurm.parts` parts.
pub struct Job {
    pub name: String,
    pub extra: Vec<String>,
    pub parted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tasks_run_the_command_without_its_slurm_flags() {
        let args: Vec<String> = [
            "train",
            "--slurm",
            "--lr",
            "1e-3",
            "--slurm.parts",
            "4",
            "--slurm.extra",
            "--qos=x",
            "--slurm.wait",
            "--slurm.mem=8G",
            "--seed",
            "3",
        ]
        .map(String::from)
        .into();
        assert_eq!(
            without_slurm_flags(&args),
            ["train", "--lr", "1e-3", "--seed", "3"]
        );
    }
}
