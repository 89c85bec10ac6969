//! Each example run at a small size, through its own `run` function.

#[path = "../train_sweep.rs"]
mod train_sweep;

#[path = "../probe_and_steer.rs"]
mod probe_and_steer;

#[path = "../demo_reproduction.rs"]
mod demo_reproduction;

#[test]
fn train_sweep_picks_a_run_that_explains_the_planted_data() {
    let tmp = tempfile::tempdir().unwrap();
    let (best, ev) = train_sweep::run(tmp.path(), 1_200, 60_000).unwrap();
    assert!(best.join("eval.json").is_file());
    assert!(ev > 0.5, "explained variance {ev}");
}

#[test]
fn probe_and_steer_flips_more_with_class_latents_than_random_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let f = probe_and_steer::run(tmp.path(), 100).unwrap();
    assert!(f.test_acc > 0.9, "probe test accuracy {}", f.test_acc);
    assert!(
        f.class_flip > f.random_flip,
        "class {} vs random {}",
        f.class_flip,
        f.random_flip
    );
}

#[test]
fn the_demo_reproduction_resumes_and_redoes_what_an_input_change_touches() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("demo");
    let first = demo_reproduction::run(&out, true).unwrap();
    assert_eq!(first.stages_run.len(), 9, "{:?}", first.stages_run);
    assert!(first.report_html.is_file() && first.report_md.is_file());
    let (c, r) = (first.class_flip_4x.unwrap(), first.random_flip_4x.unwrap());
    assert!(c > 0.2 && c > 5.0 * r, "class {c} random {r}");
    assert!(first.probe_test_acc.unwrap() > 0.5);
    // Again: every stage is skipped, same results.
    let again = demo_reproduction::run(&out, true).unwrap();
    assert!(again.stages_run.is_empty(), "{:?}", again.stages_run);
    assert_eq!(again.class_flip_4x, first.class_flip_4x);
    // A changed input: a longer SAE sweep redoes training and what consumes it, nothing else.
    let mut cfg = saev_reproduce::ReproduceConfig::demo(out.clone()).quick();
    cfg.n_patches = Some(140_000);
    let changed =
        saev_reproduce::run::<burn::backend::Flex>(&cfg, &burn::backend::flex::FlexDevice).unwrap();
    let ran: Vec<&str> = changed.stages_run.iter().map(String::as_str).collect();
    assert_eq!(ran, ["train-saes", "visuals", "probe", "steer"]);
}
