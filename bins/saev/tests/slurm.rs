//! `--slurm` against a real Slurm (tools/slurm/local-cluster start): the
//! outputs of array jobs equal one-machine runs byte for byte. Skipped, with
//! a message, when no Slurm answers; CI sets SAEV_REQUIRE_SLURM=1.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{image_folder, record_args, saev_in, strings, tiny_store};

fn slurm_available() -> bool {
    let up = std::process::Command::new("sinfo")
        .args(["-h", "-o", "%T"])
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        assert!(
            std::env::var("SAEV_REQUIRE_SLURM").as_deref() != Ok("1"),
            "SAEV_REQUIRE_SLURM=1 but no Slurm answers (tools/slurm/local-cluster start, then export SLURM_CONF)"
        );
        eprintln!("skipped: no Slurm (start one with tools/slurm/local-cluster start)");
    }
    up
}

/// Every file under `dir` (relative path -> bytes), less `skip`ped names.
fn tree(dir: &Path, skip: &dyn Fn(&str) -> bool) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            if skip(&rel) {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn ok(out: &std::process::Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "{}\n{err}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn slurm(args: &[String], extra: &[&str]) -> Vec<String> {
    let mut v = args.to_vec();
    v.extend(strings(extra));
    v
}

#[test]
fn a_recording_in_3_parts_through_slurm_equals_a_local_recording_byte_for_byte() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let imgs = image_folder(
        tmp.path(),
        &[
            ("a", "square.png"),
            ("b", "landscape.jpg"),
            ("a", "portrait.png"),
        ],
        7,
    );
    let local = tmp.path().join("local");
    ok(&saev_in(tmp.path(), &record_args(&imgs, &local, None)));
    let parts = tmp.path().join("parts");
    let args = slurm(
        &record_args(&imgs, &parts, None),
        &["--slurm", "--slurm.parts", "3", "--slurm.wait"],
    );
    let out = ok(&saev_in(tmp.path(), &args));
    assert!(
        out.contains("all 3 task(s) succeeded and the outputs verify"),
        "{out}"
    );
    let skip = |rel: &str| rel == "slurm" || rel.contains("saev-rs.part-");
    assert!(
        tree(&local, &skip) == tree(&parts, &skip),
        "the stores differ"
    );
    assert!(parts.join("slurm/activations.sbatch").is_file());
}

fn sweep_args(dir: &Path, store: &str, n_patches: &str) -> Vec<String> {
    let sweep = dir.join("sweep.toml");
    std::fs::write(&sweep, "lr = [1e-3, 3e-3]\n[sae]\nexp_factor = [2, 4]\n").unwrap();
    strings(&[
        "train",
        "--sweep",
        sweep.to_str().unwrap(),
        "--data.shard-root",
        store,
        "--data.patches",
        "cls",
        "--sae.d-vit",
        "8",
        "--n-patches",
        n_patches,
        "--sae-batch-size",
        "100",
        "--ckpt-every",
        "5",
        "--device",
        "cpu",
    ])
}

/// Each run's `sae.safetensors`, keyed by its settings (`cfg.json` less the id).
fn checkpoints(ckpt: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(ckpt).unwrap() {
        let run = e.unwrap().path();
        if !run.join("cfg.json").is_file() {
            continue;
        }
        let mut cfg: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("cfg.json")).unwrap()).unwrap();
        cfg["id"] = serde_json::Value::Null;
        out.push((
            cfg.to_string(),
            std::fs::read(run.join("sae.safetensors")).unwrap(),
        ));
    }
    out.sort();
    out
}

#[test]
fn a_4_sae_sweep_in_2_parts_through_slurm_gives_the_checkpoints_of_a_local_run() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tiny_store(tmp.path());
    let local = tmp.path().join("local");
    let mut args = sweep_args(tmp.path(), &store, "3_000");
    ok(&saev_in(
        tmp.path(),
        &slurm(&args, &["--ckpt-path", local.to_str().unwrap()]),
    ));
    let parts = tmp.path().join("parts");
    args.extend(strings(&["--ckpt-path", parts.to_str().unwrap()]));
    let out = ok(&saev_in(
        tmp.path(),
        &slurm(&args, &["--slurm", "--slurm.parts", "2", "--slurm.wait"]),
    ));
    assert!(out.contains("all 2 task(s) succeeded"), "{out}");
    let (a, b) = (checkpoints(&local), checkpoints(&parts));
    assert_eq!(a.len(), 4);
    assert!(a == b, "the checkpoints differ");
}

#[test]
fn a_task_cancelled_midway_and_resubmitted_finishes_with_the_same_bytes() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tiny_store(tmp.path());
    let local = tmp.path().join("local");
    let args = sweep_args(tmp.path(), &store, "150_000");
    ok(&saev_in(
        tmp.path(),
        &slurm(&args, &["--ckpt-path", local.to_str().unwrap()]),
    ));
    let parts = tmp.path().join("parts");
    let args = slurm(
        &args,
        &[
            "--ckpt-path",
            parts.to_str().unwrap(),
            "--slurm",
            "--slurm.parts",
            "2",
        ],
    );
    let out = ok(&saev_in(tmp.path(), &args));
    let job = out
        .split("submitted job ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    // Cancel task 0 once it has written a checkpoint, before it finishes.
    let start = Instant::now();
    let cut = loop {
        let ckpts = std::fs::read_dir(&parts)
            .map(|d| {
                d.flatten()
                    .any(|e| e.path().join("checkpoint.safetensors").is_file())
            })
            .unwrap_or(false);
        if ckpts {
            break true;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(cut);
    let cancelled = std::process::Command::new("scancel")
        .arg(format!("{job}_0"))
        .status()
        .unwrap();
    assert!(cancelled.success());
    // It was cut before the end: no exit status was written for it.
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        !parts.join(format!("slurm/{job}_0.exit")).exists(),
        "task 0 finished before the cancel"
    );
    // The same command again, waiting this time: every SAE finishes.
    let out = ok(&saev_in(tmp.path(), &slurm(&args, &["--slurm.wait"])));
    assert!(out.contains("all 2 task(s) succeeded"), "{out}");
    assert!(
        checkpoints(&local) == checkpoints(&parts),
        "the checkpoints differ"
    );
}

#[test]
fn slurm_wait_fails_when_a_task_fails() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let imgs = image_folder(
        tmp.path(),
        &[
            ("a", "square.png"),
            ("b", "landscape.jpg"),
            ("a", "portrait.png"),
        ],
        7,
    );
    let dump = tmp.path().join("bad");
    // Task 1 of 2 finds a broken image and fails; task 0 succeeds.
    std::fs::write(imgs.join("b/6-landscape.jpg"), b"not a jpeg").unwrap();
    let args = slurm(
        &record_args(&imgs, &dump, None),
        &["--slurm", "--slurm.parts", "2", "--slurm.wait"],
    );
    let out = saev_in(tmp.path(), &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("1 of 2 task(s) failed") && err.contains("task 1 exited 1"),
        "{err}"
    );
}

#[test]
fn the_reproduction_through_slurm_is_one_job_per_stage_chained_on_success() {
    if !slurm_available() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let out_dir = tmp.path().join("demo");
    let args = strings(&[
        "reproduce",
        "--quick",
        "--out",
        out_dir.to_str().unwrap(),
        "--slurm",
        "--slurm.wait",
    ]);
    let out = ok(&saev_in(tmp.path(), &args));
    assert_eq!(out.matches("submitted job ").count(), 9, "{out}");
    assert!(
        out.contains("all 1 task(s) succeeded and the outputs verify"),
        "{out}"
    );
    assert!(out_dir.join("report.html").is_file());
    let script =
        std::fs::read_to_string(out_dir.join("slurm/reproduce-3-train-saes.sbatch")).unwrap();
    assert!(
        script.contains("--dependency=afterok:") && script.contains("--until train-saes"),
        "{script}"
    );
}

#[test]
fn a_dry_run_writes_the_batch_script_and_submits_nothing() {
    // No Slurm needed: nothing is submitted.
    let tmp = tempfile::tempdir().unwrap();
    let store = tiny_store(tmp.path());
    let ckpt = tmp.path().join("ck");
    let mut args = sweep_args(tmp.path(), &store, "3_000");
    args.extend(strings(&[
        "--ckpt-path",
        ckpt.to_str().unwrap(),
        "--slurm.dry-run",
        "--slurm.parts",
        "2",
        "--slurm.partition",
        "gpu",
        "--slurm.gpus-per-task",
        "1",
        "--slurm.time",
        "01:00:00",
        "--slurm.extra",
        "--qos=low --exclusive",
    ]));
    let out = ok(&saev_in(tmp.path(), &args));
    assert!(out.contains("dry run: nothing submitted"), "{out}");
    let script = std::fs::read_to_string(ckpt.join("slurm/train.sbatch")).unwrap();
    for line in [
        "#SBATCH --array=0-1",
        "#SBATCH --partition=gpu",
        "#SBATCH --gpus-per-task=1",
        "#SBATCH --time=01:00:00",
        "#SBATCH --qos=low",
        "#SBATCH --exclusive",
    ] {
        assert!(
            script.lines().any(|l| l == line),
            "no {line:?} in\n{script}"
        );
    }
    assert!(
        script.contains(r#"--part "$SLURM_ARRAY_TASK_ID/2""#),
        "{script}"
    );
    assert!(!script.contains("--slurm"), "{script}");
    // Nothing trained.
    let runs = std::fs::read_dir(&ckpt)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("cfg.json").exists())
        .count();
    assert_eq!(runs, 0);
}
