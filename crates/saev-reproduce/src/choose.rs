//! The rule that picks the SAE the rest of the run uses (docs/reproduce.md).

use saev_sae::eval::EvalMetrics;
use saev_train::RunConfig;

/// The rule, as the report states it.
pub const CHOICE_RULE: &str =
    "highest explained variance among runs with L0 <= d_vit/4 and <= 25% dead latents";
const FALLBACK_RULE: &str = "no run met L0 <= d_vit/4 with <= 25% dead latents: lowest L0";

/// The chosen run and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Choice {
    pub index: usize,
    pub rule: &'static str,
}

/// Among runs whose L0 is at most `d_vit / 4` and that have no more than
/// 25% dead latents, the highest explained variance; if none qualifies, the
/// lowest L0. `None` for no runs.
pub fn choose_run(runs: &[(&RunConfig, &EvalMetrics)], d_vit: usize) -> Option<Choice> {
    let ok = |m: &EvalMetrics| {
        let s = m.freqs.len().max(1) as f64;
        m.l0 <= d_vit as f64 / 4.0 && m.n_dead as f64 <= 0.25 * s
    };
    let best = (0..runs.len()).filter(|&i| ok(runs[i].1)).max_by(|&a, &b| {
        runs[a]
            .1
            .explained_variance
            .total_cmp(&runs[b].1.explained_variance)
    });
    if let Some(index) = best {
        return Some(Choice {
            index,
            rule: CHOICE_RULE,
        });
    }
    (0..runs.len())
        .min_by(|&a, &b| runs[a].1.l0.total_cmp(&runs[b].1.l0))
        .map(|index| Choice {
            index,
            rule: FALLBACK_RULE,
        })
}
