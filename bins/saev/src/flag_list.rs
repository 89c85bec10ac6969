//! `saev __numeric-flags` (hidden): every subcommand's numeric flags and
//! required arguments, one JSON line per command, so a test can try each
//! numeric flag at 0, -1 and NaN without a hand-kept list going stale.

use std::any::TypeId;

use clap::CommandFactory;
use serde_json::json;

fn is_numeric(arg: &clap::Arg) -> bool {
    let id = arg.get_value_parser().type_id();
    let numeric = [
        TypeId::of::<u8>(),
        TypeId::of::<u16>(),
        TypeId::of::<u32>(),
        TypeId::of::<u64>(),
        TypeId::of::<usize>(),
        TypeId::of::<i32>(),
        TypeId::of::<i64>(),
        TypeId::of::<f32>(),
        TypeId::of::<f64>(),
    ];
    numeric.iter().any(|t| id == *t)
}

/// The numeric and the required flags of one level of a command path.
fn level(cmd: &clap::Command) -> serde_json::Value {
    let long = |a: &clap::Arg| a.get_long().map(|l| format!("--{l}"));
    let numeric: Vec<String> = cmd
        .get_arguments()
        .filter(|a| is_numeric(a))
        .filter_map(long)
        .collect();
    // Positionals as `<NAME>`.
    let named = |a: &clap::Arg| long(a).unwrap_or_else(|| format!("<{}>", a.get_id()));
    let required: Vec<String> = cmd
        .get_arguments()
        .filter(|a| a.is_required_set())
        .map(named)
        .collect();
    json!({ "numeric": numeric, "required": required })
}

/// Every runnable command path below `cmd`, with each level's flags (a
/// parent's flags go before its subcommand's name).
fn leaves(
    cmd: &clap::Command,
    path: Vec<(String, serde_json::Value)>,
    out: &mut Vec<serde_json::Value>,
) {
    let subs: Vec<&clap::Command> = cmd
        .get_subcommands()
        .filter(|c| c.get_name() != "help" && !c.is_hide_set())
        .collect();
    let runnable = subs.is_empty() || !cmd.is_subcommand_required_set();
    if runnable && !path.is_empty() {
        let (names, levels): (Vec<_>, Vec<_>) = path.iter().cloned().unzip();
        out.push(json!({ "command": names, "levels": levels }));
    }
    for sub in subs {
        let mut p = path.clone();
        p.push((sub.get_name().to_string(), level(sub)));
        leaves(sub, p, out);
    }
}

pub fn print() {
    let mut out = Vec::new();
    leaves(&crate::Cli::command(), Vec::new(), &mut out);
    for line in out {
        println!("{line}");
    }
}
