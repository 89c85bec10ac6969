//! The batch script of an array job.

use std::path::PathBuf;

use crate::SlurmConfig;

/// One array job: `command` run by every task with `--part $TASK/N` added.
#[derive(Clone, Debug)]
pub struct JobSpec {
    /// `saev-<name>` in `squeue`; also the script's file name.
    pub name: String,
    /// The program and its arguments (absolute program path).
    pub command: Vec<String>,
    /// Where the script, logs and exit statuses go (`<out>/slurm`).
    pub log_dir: PathBuf,
    /// The working directory of every task (relative paths in `command`).
    pub workdir: PathBuf,
    /// Job ids this job starts after, once they succeeded (`afterok`).
    pub after: Vec<String>,
    /// Each task gets `--part $SLURM_ARRAY_TASK_ID/N`; without, the job is
    /// one task running `command` as it is.
    pub parted: bool,
}

/// `s` as one word for bash.
pub fn shell_quote(s: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-:=+,@%".contains(c);
    if !s.is_empty() && s.chars().all(plain) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Tasks in the job's array.
pub fn parts(cfg: &SlurmConfig, job: &JobSpec) -> usize {
    if job.parted {
        cfg.parts.max(1)
    } else {
        1
    }
}

/// The script `sbatch` runs: options as `#SBATCH` lines, then the command
/// with this task's part, then its exit status into `<job>_<task>.exit`.
pub fn render(cfg: &SlurmConfig, job: &JobSpec) -> String {
    let logs = job.log_dir.display().to_string();
    let mut opts = vec![
        format!("--job-name=saev-{}", job.name),
        format!("--array=0-{}", parts(cfg, job) - 1),
        format!("--output={logs}/%A_%a.out"),
        format!("--error={logs}/%A_%a.err"),
        format!("--chdir={}", job.workdir.display()),
        "--ntasks=1".to_string(),
    ];
    let optional = [
        ("partition", cfg.partition.clone()),
        ("account", cfg.account.clone()),
        ("time", cfg.time.clone()),
        ("gpus-per-task", cfg.gpus_per_task.map(|g| g.to_string())),
        ("cpus-per-task", cfg.cpus_per_task.map(|c| c.to_string())),
        ("mem", cfg.mem.clone()),
    ];
    for (name, value) in optional {
        if let Some(v) = value {
            opts.push(format!("--{name}={v}"));
        }
    }
    if !job.after.is_empty() {
        opts.push(format!("--dependency=afterok:{}", job.after.join(":")));
    }
    opts.extend(cfg.extra.iter().cloned());
    let mut text = String::from("#!/bin/bash\n");
    text.push_str(
        "# Written by saev-rs: one array task per part. Edit and `sbatch` it again if you like.\n",
    );
    for o in &opts {
        text.push_str(&format!("#SBATCH {}\n", shell_quote(o)));
    }
    let command: Vec<String> = job.command.iter().map(|a| shell_quote(a)).collect();
    let part = match job.parted {
        true => format!(" --part \"$SLURM_ARRAY_TASK_ID/{}\"", parts(cfg, job)),
        false => String::new(),
    };
    text.push_str(&format!("\n{}{part}\nstatus=$?\n", command.join(" ")));
    text.push_str(&format!(
        "echo \"$status\" > {}/\"${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}.exit\"\nexit \"$status\"\n",
        shell_quote(&logs)
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_asks_for_what_the_flags_say_and_runs_one_part_per_task() {
        let cfg = SlurmConfig {
            parts: 3,
            partition: Some("gpu".into()),
            gpus_per_task: Some(1),
            mem: Some("64G".into()),
            extra: vec!["--qos=high".into()],
            ..SlurmConfig::default()
        };
        let job = JobSpec {
            name: "activations".into(),
            command: vec![
                "/bin/saev".into(),
                "activations".into(),
                "--tag".into(),
                "it's".into(),
            ],
            log_dir: "/out/slurm".into(),
            workdir: "/work".into(),
            after: vec!["41".into()],
            parted: true,
        };
        let s = render(&cfg, &job);
        for line in [
            "#SBATCH --array=0-2",
            "#SBATCH --partition=gpu",
            "#SBATCH --gpus-per-task=1",
            "#SBATCH --mem=64G",
            "#SBATCH --qos=high",
            "#SBATCH --dependency=afterok:41",
            "#SBATCH --output=/out/slurm/%A_%a.out",
            r#"/bin/saev activations --tag 'it'\''s' --part "$SLURM_ARRAY_TASK_ID/3""#,
        ] {
            assert!(s.lines().any(|l| l == line), "no {line:?} in\n{s}");
        }
        assert!(!s.contains("--account"));
    }
}
