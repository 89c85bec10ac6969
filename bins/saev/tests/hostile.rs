//! A hostile but fair user: every numeric flag of every command at 0, -1
//! and NaN, kills at every rename of a checkpoint write, and bad numbers in
//! weights, stores and sweeps. Nothing may panic; nothing written may be lost.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use common::{image_folder, record_args, repo, saev_in, strings, tiny_store, with_flag};

/// Where nothing can be read or created, even by root.
const MISSING: &str = "/dev/null/missing";

/// The argv of one command with `flag value` at `at` (a level of the
/// command path), its required arguments pointing at nothing.
fn argv(leaf: &serde_json::Value, at: usize, flag: &str, value: &str) -> Vec<String> {
    let mut v = Vec::new();
    let names = leaf["command"].as_array().unwrap();
    let levels = leaf["levels"].as_array().unwrap();
    for (i, (name, level)) in names.iter().zip(levels).enumerate() {
        v.push(name.as_str().unwrap().to_string());
        // A parent's required arguments are those it runs without a subcommand.
        let required = match i + 1 == levels.len() {
            true => level["required"].as_array().unwrap().clone(),
            false => Vec::new(),
        };
        for req in &required {
            let req = req.as_str().unwrap();
            if req == flag {
                continue;
            }
            let numeric = level["numeric"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n == req);
            let fill = if numeric { "1" } else { MISSING };
            if req.starts_with("--") {
                v.push(req.to_string());
            }
            v.push(fill.to_string());
        }
        if i == at {
            v.push(flag.to_string());
            v.push(value.to_string());
        }
    }
    // Inputs that have defaults: point them at nothing too, so a value that
    // is valid still ends in an error (here, not after minutes of work).
    match names[0].as_str().unwrap() {
        "reproduce" => v.extend(["--out".into(), MISSING.into()]),
        "bench" if names[1] == "vit" => v.extend(["--config".into(), "no-such-vit".into()]),
        _ => {}
    }
    v
}

#[test]
fn every_numeric_flag_at_0_minus_1_and_nan_fails_cleanly_without_a_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let list = saev_in(tmp.path(), &["__numeric-flags".to_string()]);
    assert!(list.status.success());
    let leaves: Vec<serde_json::Value> = String::from_utf8(list.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(leaves.len() > 15, "{leaves:?}");
    let mut n_tried = 0;
    let mut bad = Vec::new();
    for leaf in &leaves {
        for (at, level) in leaf["levels"].as_array().unwrap().iter().enumerate() {
            for flag in level["numeric"].as_array().unwrap() {
                let flag = flag.as_str().unwrap();
                for value in ["0", "-1", "NaN"] {
                    let args = argv(leaf, at, flag, value);
                    let out = saev_in(tmp.path(), &args);
                    n_tried += 1;
                    let err = String::from_utf8_lossy(&out.stderr);
                    let code = out.status.code();
                    let panicked = code == Some(101) || err.contains("panicked");
                    // NaN is never a sensible number here: refused by name.
                    let named = value != "NaN" || err.contains(flag);
                    if out.status.success() || panicked || !named {
                        bad.push(format!("saev {} -> {code:?}: {err}", args.join(" ")));
                    }
                }
            }
        }
    }
    assert!(n_tried > 150, "only {n_tried} invocations");
    assert!(
        bad.is_empty(),
        "{} of {n_tried}:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// `saev train` on a real store: valid inputs, so every flag's value reaches
/// the training code unless refused first.
fn train_args(store: &str, ckpt: &Path) -> Vec<String> {
    strings(&[
        "train",
        "--data.shard-root",
        store,
        "--data.patches",
        "cls",
        "--sae.d-vit",
        "8",
        "--sae.exp-factor",
        "2",
        "--n-patches",
        "600",
        "--sae-batch-size",
        "100",
        "--ckpt-path",
        ckpt.to_str().unwrap(),
        "--device",
        "cpu",
    ])
}

#[test]
fn train_on_a_real_store_never_panics_on_any_numeric_flag_value() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tiny_store(tmp.path());
    let list = saev_in(tmp.path(), &strings(&["__numeric-flags"]));
    let train: serde_json::Value = String::from_utf8(list.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|l| l["command"] == serde_json::json!(["train"]))
        .unwrap();
    let flags = train["levels"][0]["numeric"].as_array().unwrap();
    assert!(flags.len() > 20);
    let mut bad = Vec::new();
    for (i, flag) in flags.iter().enumerate() {
        let flag = flag.as_str().unwrap();
        for value in ["0", "-1", "NaN"] {
            let ckpt = tmp.path().join(format!("ck{i}{value}"));
            let args = with_flag(&train_args(&store, &ckpt), flag, value);
            let out = saev_in(tmp.path(), &args);
            let err = String::from_utf8_lossy(&out.stderr);
            if out.status.code() == Some(101) || err.contains("panicked") {
                bad.push(format!("saev {}: {err}", args.join(" ")));
            }
            // A refused value leaves no half-made run behind.
            if !out.status.success() && ckpt.exists() {
                let runs = std::fs::read_dir(&ckpt).unwrap().count();
                if runs > 0 && !err.contains("diverged") {
                    bad.push(format!(
                        "saev {} left {runs} run dir(s): {err}",
                        args.join(" ")
                    ));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    // The cases, refused by name before anything is written.
    for (flag, value) in [
        ("--sae.exp-factor", "0"),
        ("--sae-batch-size", "0"),
        ("--n-patches", "0"),
        ("--lr", "NaN"),
    ] {
        let ckpt = tmp.path().join("refused");
        let out = saev_in(
            tmp.path(),
            &with_flag(&train_args(&store, &ckpt), flag, value),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {err}");
        assert!(
            err.contains(flag) && !ckpt.exists(),
            "{flag} {value}: {err}"
        );
    }
}

#[test]
fn sweep_values_that_make_no_sense_are_refused_naming_the_setting() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tiny_store(tmp.path());
    let cases = [
        (
            "[sae]\nexp_factor = [0]\n",
            "sae.exp_factor must be at least 1",
        ),
        ("lr = []\n", "the sweep has no points"),
        (
            "sae_batch_size = [0]\n",
            "sae_batch_size must be at least 1",
        ),
        ("n_patches = [0]\n", "n_patches must be at least 1"),
        ("lr = [nan]\n", "lr must be a positive number"),
        (
            "[sae]\nactivation = \"topk\"\ntop_k = [0]\n",
            "sae.top_k must be at least 1",
        ),
    ];
    for (i, (sweep, expected)) in cases.into_iter().enumerate() {
        let path = tmp.path().join(format!("sweep{i}.toml"));
        std::fs::write(&path, sweep).unwrap();
        let ckpt = tmp.path().join(format!("ck{i}"));
        let mut args = train_args(&store, &ckpt);
        args.extend(["--sweep".to_string(), path.to_str().unwrap().to_string()]);
        let out = saev_in(tmp.path(), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{sweep}: {err}");
        assert!(
            err.contains(expected),
            "{sweep}: wanted {expected:?} in {err}"
        );
        assert!(!err.contains("panicked"), "{sweep}: {err}");
        assert!(!ckpt.exists(), "{sweep}: a run directory was made");
    }
}

fn inspect(sae: &Path) -> serde_json::Value {
    let out = saev_in(
        Path::new("."),
        &strings(&["sae", "inspect", sae.to_str().unwrap()]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn only_run(ckpt: &Path) -> std::path::PathBuf {
    let mut runs: Vec<_> = std::fs::read_dir(ckpt)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(runs.len(), 1, "{runs:?}");
    runs.pop().unwrap()
}

#[test]
fn a_diverging_run_keeps_its_last_finite_checkpoint_and_exits_non_zero() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tiny_store(tmp.path());
    let ckpt = tmp.path().join("ck");
    // TopK at a huge learning rate: Adam's second moment overflows while
    // the loss is still finite, by step 120 here.
    let mut args = train_args(&store, &ckpt);
    for (flag, value) in [
        ("--sae.activation", "topk"),
        ("--sae.top-k", "4"),
        ("--lr", "1e7"),
        ("--n-lr-warmup", "20000"),
        ("--ckpt-every", "20"),
        ("--n-patches", "200_000"),
    ] {
        args = with_flag(&args, flag, value);
    }
    let out = saev_in(tmp.path(), &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("1 of 1 SAEs diverged"), "{err}");
    let run = only_run(&ckpt);
    let why = std::fs::read_to_string(run.join("diverged.txt")).unwrap();
    assert!(why.contains("holds NaN or infinite values"), "{why}");
    let kept: u64 = why
        .split("the checkpoint of step ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no kept step in {why:?}"));
    assert!(kept > 0 && kept.is_multiple_of(20), "{why}");
    // Both files hold that finite step; resuming reports the run as it ended.
    for f in ["sae.safetensors", "checkpoint.safetensors"] {
        let summary = inspect(&run.join(f));
        assert_eq!(summary["step"], kept, "{f}");
        assert!(summary["non_finite"].is_null(), "{f}: {summary}");
    }
    let out = saev_in(
        tmp.path(),
        &strings(&["train", "--resume", run.to_str().unwrap()]),
    );
    assert!(!out.status.success());
    assert_eq!(inspect(&run.join("sae.safetensors"))["step"], kept);

    // A finite blow-up (ReLU at lr 1e4) finishes, with a warning saying so.
    let ckpt = tmp.path().join("blown");
    let args = with_flag(
        &with_flag(&train_args(&store, &ckpt), "--lr", "1e4"),
        "--n-patches",
        "20_000",
    );
    let out = saev_in(tmp.path(), &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("warning: run") && err.contains("explained variance is -"),
        "{err}"
    );
    let eval: serde_json::Value =
        serde_json::from_slice(&std::fs::read(only_run(&ckpt).join("eval.json")).unwrap()).unwrap();
    assert!(!eval["warnings"].as_array().unwrap().is_empty(), "{eval}");
}

/// A TopK + AuxK run of 30 steps with a checkpoint every 5.
fn resumable_args(store: &str, ckpt: &Path, n_patches: &str) -> Vec<String> {
    let mut args = train_args(store, ckpt);
    for (flag, value) in [
        ("--sae.activation", "topk"),
        ("--sae.top-k", "3"),
        ("--sae.dead-after", "300"),
        ("--n-patches", n_patches),
        ("--ckpt-every", "5"),
        ("--log-every", "5"),
        ("--lr", "3e-3"),
        ("--n-lr-warmup", "3"),
    ] {
        args = with_flag(&args, flag, value);
    }
    args
}

/// What must match an uninterrupted run: the weights, the metrics and the
/// evaluation (less the run's random id).
fn outcome(ckpt: &Path) -> (Vec<u8>, String, serde_json::Value) {
    let run = only_run(ckpt);
    let mut eval: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("eval.json")).unwrap()).unwrap();
    eval["run_id"] = serde_json::Value::Null;
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    (
        std::fs::read(run.join("sae.safetensors")).unwrap(),
        metrics,
        eval,
    )
}

/// After a kill: resume the run if it got as far as its `cfg.json`, else
/// start it again (what a user would do), until it finishes.
fn finish_after_kill(tmp: &Path, ckpt: &Path, args: &[String]) {
    let runs: Vec<_> = match ckpt.exists() {
        true => std::fs::read_dir(ckpt)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect(),
        false => Vec::new(),
    };
    for run in &runs {
        if !run.join("cfg.json").is_file() {
            std::fs::remove_dir_all(run).unwrap();
        }
    }
    let again = match runs.iter().find(|r| r.join("cfg.json").is_file()) {
        Some(run) => strings(&[
            "train",
            "--resume",
            run.to_str().unwrap(),
            "--device",
            "cpu",
        ]),
        None => args.to_vec(),
    };
    let out = saev_in(tmp, &again);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn strace_argv(inject: Option<u64>, log: &Path, args: &[String]) -> Vec<String> {
    let mut v = strings(&["-f", "-qq", "-e", "trace=rename,renameat,renameat2", "-o"]);
    v.push(log.to_str().unwrap().to_string());
    if let Some(k) = inject {
        v.extend([
            "-e".into(),
            format!("inject=rename,renameat,renameat2:signal=SIGKILL:when={k}"),
        ]);
    }
    v.push(env!("CARGO_BIN_EXE_saev").to_string());
    v.extend(args.iter().cloned());
    v
}

fn strace(tmp: &Path, argv: &[String]) -> Output {
    let found = Command::new("strace").arg("-V").output();
    assert!(
        found.is_ok_and(|o| o.status.success()),
        "this test needs strace (Debian: apt-get install strace); .ci/run installs it"
    );
    Command::new("strace")
        .args(argv)
        .current_dir(tmp)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[test]
fn a_kill_at_any_rename_of_a_checkpoint_write_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tiny_store(tmp.path());
    let whole = tmp.path().join("whole");
    let log = tmp.path().join("renames.log");
    let out = strace(
        tmp.path(),
        &strace_argv(None, &log, &resumable_args(&store, &whole, "3_000")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = outcome(&whole);
    let renames = std::fs::read_to_string(&log).unwrap();
    let n = renames.lines().filter(|l| l.contains("rename")).count() as u64;
    let n_ckpt = renames
        .lines()
        .filter(|l| l.contains("checkpoint.safetensors\""))
        .count();
    assert!(n > 20 && n_ckpt >= 5, "{renames}");
    for k in 1..=n {
        let ckpt = tmp.path().join(format!("killed{k}"));
        let args = resumable_args(&store, &ckpt, "3_000");
        let out = strace(tmp.path(), &strace_argv(Some(k), &log, &args));
        assert!(!out.status.success(), "kill {k} of {n} did not happen");
        finish_after_kill(tmp.path(), &ckpt, &args);
        let got = outcome(&ckpt);
        assert!(got.0 == expected.0, "kill at rename {k}: weights differ");
        assert_eq!(got.1, expected.1, "kill at rename {k}: metrics differ");
        assert_eq!(got.2, expected.2, "kill at rename {k}: evaluation differs");
        let stray: Vec<_> = std::fs::read_dir(only_run(&ckpt))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|f| f.ends_with(".tmp") || f == "checkpoint.safetensors")
            .collect();
        assert!(stray.is_empty(), "kill at rename {k}: left {stray:?}");
    }
}

#[test]
fn a_kill_at_random_moments_resumes_to_the_uninterrupted_result() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tiny_store(tmp.path());
    let whole = tmp.path().join("whole");
    let start = Instant::now();
    let out = saev_in(tmp.path(), &resumable_args(&store, &whole, "60_000"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let took = start.elapsed();
    let expected = outcome(&whole);
    // Fixed fractions of the run's length (no clock-seeded randomness).
    let mut n_cut = 0;
    for (i, frac) in [0.13, 0.37, 0.61, 0.89].into_iter().enumerate() {
        let ckpt = tmp.path().join(format!("killed{i}"));
        let args = resumable_args(&store, &ckpt, "60_000");
        let mut child = Command::new(env!("CARGO_BIN_EXE_saev"))
            .args(&args)
            .current_dir(tmp.path())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(took.mul_f64(frac));
        child.kill().unwrap();
        child.wait().unwrap();
        let finished = ckpt.exists() && only_run(&ckpt).join("eval.json").is_file();
        n_cut += usize::from(!finished);
        finish_after_kill(tmp.path(), &ckpt, &args);
        let got = outcome(&ckpt);
        assert!(
            got.0 == expected.0,
            "kill at {frac} of the run: weights differ"
        );
        assert_eq!(
            got.1, expected.1,
            "kill at {frac} of the run: metrics differ"
        );
    }
    assert!(n_cut >= 2, "only {n_cut} of 4 kills landed before the end");
}

#[test]
fn a_store_whose_metadata_disagrees_with_its_record_and_files_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dump = tmp.path().join("shards");
    let synth = strings(&[
        "shards",
        "synth",
        "--dump-to",
        dump.to_str().unwrap(),
        "--n-imgs",
        "100",
        "--d-vit",
        "8",
        "--n-patches-per-img",
        "0",
        "--n-patches-per-shard",
        "2",
    ]);
    assert!(saev_in(tmp.path(), &synth).status.success());
    let root = std::fs::read_dir(&dump)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let md_path = root.join("metadata.json");
    let md = std::fs::read_to_string(&md_path).unwrap();
    std::fs::write(&md_path, md.replace("\"n_imgs\": 100", "\"n_imgs\": 1000")).unwrap();
    // 45 of 50 shard files gone as well.
    for i in 5..50 {
        std::fs::remove_file(root.join(format!("acts{i:06}.bin"))).unwrap();
    }
    let root_s = root.to_str().unwrap();
    for args in [
        strings(&["shards", "verify", root_s]),
        strings(&["shards", "inspect", root_s]),
        with_flag(
            &train_args(root_s, &tmp.path().join("ck")),
            "--n-patches",
            "100",
        ),
    ] {
        let out = saev_in(tmp.path(), &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "saev {}: {err}", args.join(" "));
        assert!(
            err.contains("store of 100 images") && err.contains("says 1000 images"),
            "saev {}: {err}",
            args.join(" ")
        );
    }
}

/// Set the first value of tensor `name` of a safetensors file to NaN.
fn poison(path: &Path, name: &str) {
    let mut bytes = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let start = header[name]["data_offsets"][0].as_u64().unwrap() as usize + 8 + n;
    bytes[start..start + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn weights_holding_nan_are_refused_before_anything_is_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let tower = tmp.path().join("tower");
    std::fs::create_dir(&tower).unwrap();
    let fixture = repo().join("fixtures/clip/tiny-openclip");
    for f in ["open_clip_config.json", "open_clip_model.safetensors"] {
        std::fs::copy(fixture.join(f), tower.join(f)).unwrap();
    }
    let tensor = "visual.transformer.resblocks.0.attn.in_proj_weight";
    poison(&tower.join("open_clip_model.safetensors"), tensor);
    let imgs = tmp.path().join("imgs/a");
    std::fs::create_dir_all(&imgs).unwrap();
    std::fs::copy(
        repo().join("fixtures/clip/images/square.png"),
        imgs.join("x.png"),
    )
    .unwrap();
    let shards = tmp.path().join("shards");
    let args = strings(&[
        "activations",
        "--model-ckpt",
        tower.to_str().unwrap(),
        "--d-vit",
        "64",
        "--n-patches-per-img",
        "4",
        "--dump-to",
        shards.to_str().unwrap(),
        "--device",
        "cpu",
        "data:image-folder-dataset",
        "--data.root",
        tmp.path().join("imgs").to_str().unwrap(),
    ]);
    let out = saev_in(tmp.path(), &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("NaN or infinite") && err.contains(tensor),
        "{err}"
    );
    let written = shards.exists() && std::fs::read_dir(&shards).unwrap().count() > 0;
    assert!(!written, "a store was started: {err}");
}

#[test]
fn train_verify_catches_a_changed_finite_value_that_training_alone_cannot() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tiny_store(tmp.path());
    let shard = Path::new(&store).join("acts000000.bin");
    let mut bytes = std::fs::read(&shard).unwrap();
    bytes[40..44].copy_from_slice(&123.5f32.to_le_bytes());
    std::fs::write(&shard, bytes).unwrap();
    let ckpt = tmp.path().join("verified");
    let mut args = train_args(&store, &ckpt);
    args.push("--verify".into());
    let out = saev_in(tmp.path(), &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("checksum mismatch") && err.contains("nothing trained"),
        "{err}"
    );
    assert!(!ckpt.exists());
    // Without --verify the changed value goes unnoticed (as docs/sae.md says).
    let out = saev_in(tmp.path(), &train_args(&store, &tmp.path().join("plain")));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_part_killed_at_any_rename_resumes_and_the_parts_make_the_one_go_store() {
    let tmp = tempfile::tempdir().unwrap();
    let imgs = image_folder(
        tmp.path(),
        &[("a", "square.png"), ("b", "landscape.jpg")],
        6,
    );
    let one = tmp.path().join("one");
    assert!(saev_in(tmp.path(), &record_args(&imgs, &one, None))
        .status
        .success());
    let store = |dump: &Path| {
        std::fs::read_dir(dump)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
    };
    let files = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut v: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .filter(|n| !n.starts_with("saev-rs.part-"))
            .map(|n| (n.clone(), std::fs::read(dir.join(&n)).unwrap()))
            .collect();
        v.sort();
        v
    };
    let expected = files(&store(&one));
    let log = tmp.path().join("renames.log");
    let probe = strace_argv(
        None,
        &log,
        &record_args(&imgs, &tmp.path().join("probe"), Some("1/2")),
    );
    assert!(strace(tmp.path(), &probe).status.success());
    let n = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| l.contains("rename"))
        .count() as u64;
    assert!(n >= 4, "only {n} renames");
    for k in 1..=n {
        let dump = tmp.path().join(format!("parts{k}"));
        let part1 = record_args(&imgs, &dump, Some("1/2"));
        assert!(!strace(tmp.path(), &strace_argv(Some(k), &log, &part1))
            .status
            .success());
        let out = saev_in(tmp.path(), &part1);
        assert!(
            out.status.success(),
            "rename {k}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let part0 = record_args(&imgs, &dump, Some("0/2"));
        assert!(saev_in(tmp.path(), &part0).status.success());
        let got = files(&store(&dump));
        assert!(
            got == expected,
            "kill at rename {k}: the store differs from the one-go recording"
        );
    }
}
