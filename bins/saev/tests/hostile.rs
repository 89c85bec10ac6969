//! A hostile but fair user: every numeric flag of every command at 0, -1
//! and NaN, kills at every rename of a checkpoint write, and bad numbers in
//! weights, stores and sweeps. Nothing may panic; nothing written may be lost.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn saev_in(dir: &Path, args: &[String]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_saev"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(120) {
            child.kill().unwrap();
            panic!("saev {} ran for over 2 minutes", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().unwrap()
}

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

/// A 600-image [CLS] store of 8-dim activations.
fn tiny_store(dir: &Path) -> String {
    let store = dir.join("shards");
    let args: Vec<String> = [
        "shards",
        "synth",
        "--dump-to",
        store.to_str().unwrap(),
        "--n-imgs",
        "600",
        "--n-patches-per-img",
        "0",
        "--d-vit",
        "8",
    ]
    .map(String::from)
    .into();
    assert!(saev_in(dir, &args).status.success());
    let hash = std::fs::read_dir(&store).unwrap().next().unwrap().unwrap();
    hash.path().to_str().unwrap().to_string()
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
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

/// `args` with `flag value` in place of any `flag` it has.
fn with_flag(args: &[String], flag: &str, value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if args[i] == flag {
            i += 2;
            continue;
        }
        out.push(args[i].clone());
        i += 1;
    }
    out.extend([flag.to_string(), value.to_string()]);
    out
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
