//! Which runs share batches.

use crate::run::RunConfig;

/// Runs trained together on one shuffled stream.
pub type Group = Vec<RunConfig>;

/// Runs read the same examples in the same order, and so can share each
/// batch, when their data, batch size, length and stream seed agree. A run
/// not yet grouped (`stream_seed` `None`) only joins others not yet grouped;
/// a resumed run keeps the stream it was trained on.
pub fn shares_batches(a: &RunConfig, b: &RunConfig) -> bool {
    a.data == b.data
        && a.batch_size == b.batch_size
        && a.n_patches == b.n_patches
        && a.stream_seed == b.stream_seed
        && a.reinit_seed == b.reinit_seed
}

/// Group runs (in order of first appearance) and fix each group's stream
/// seed: its first run's `seed`, as saev seeds a sweep's shared stream.
pub fn group_runs(runs: &[RunConfig]) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for run in runs {
        match groups.iter_mut().find(|g| shares_batches(&g[0], run)) {
            Some(g) => g.push(run.clone()),
            None => groups.push(vec![run.clone()]),
        }
    }
    for g in &mut groups {
        let seed = g[0].stream_seed.unwrap_or(g[0].seed);
        let reinit = g[0].reinit_seed.unwrap_or(g[0].sae.seed);
        for r in g.iter_mut() {
            r.stream_seed = Some(seed);
            r.reinit_seed = Some(reinit);
        }
    }
    groups
}

/// Part `i` (0-based) of `n` of a sweep: whole groups where there are at
/// least `n` of them (consecutive groups per part), else contiguous runs of
/// one group. Each run keeps its group's stream and `b_dec` seeds, so it
/// trains exactly as in the whole sweep, whichever runs share its part.
pub fn part(runs: &[RunConfig], i: usize, n: usize) -> anyhow::Result<Vec<RunConfig>> {
    if n == 0 || i >= n {
        anyhow::bail!("part {i}/{n}: give I/N with 0 <= I < N");
    }
    let seeded: Vec<RunConfig> = group_runs(runs).into_iter().flatten().collect();
    let groups = group_runs(&seeded);
    let chunk = |len: usize| (len * i / n, len * (i + 1) / n);
    if groups.len() >= n {
        let (a, b) = chunk(groups.len());
        return Ok(groups[a..b].iter().flatten().cloned().collect());
    }
    let (a, b) = chunk(seeded.len());
    Ok(seeded[a..b].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_on_different_streams_never_share_a_group() {
        let mut a = RunConfig {
            seed: 1,
            ..RunConfig::default()
        };
        let mut b = RunConfig {
            seed: 2,
            ..RunConfig::default()
        };
        // Fresh runs of one sweep share the first run's stream.
        let g = group_runs(&[a.clone(), b.clone()]);
        assert_eq!(g.len(), 1);
        assert!(g[0].iter().all(|r| r.stream_seed == Some(1)));
        // Runs resumed from two separate invocations keep their own streams.
        a.stream_seed = Some(1);
        b.stream_seed = Some(2);
        let g = group_runs(&[a, b]);
        assert_eq!(g.len(), 2);
        assert_eq!(g[1][0].stream_seed, Some(2));
    }

    #[test]
    fn parts_cover_the_sweep_once_and_keep_the_groups_seeds() {
        let runs: Vec<RunConfig> = (0..5)
            .map(|i| {
                let mut r = RunConfig {
                    seed: 10 + i,
                    ..RunConfig::default()
                };
                r.sae.seed = i as u64;
                r.batch_size = if i < 3 { 100 } else { 200 };
                r
            })
            .collect();
        for n in [1, 2, 3, 5] {
            let parts: Vec<Vec<RunConfig>> = (0..n).map(|i| part(&runs, i, n).unwrap()).collect();
            let seeds: Vec<i64> = parts.iter().flatten().map(|r| r.seed).collect();
            assert_eq!(seeds, [10, 11, 12, 13, 14], "n {n}");
            for r in parts.iter().flatten() {
                let first = if r.batch_size == 100 {
                    (10, 0)
                } else {
                    (13, 3)
                };
                assert_eq!(
                    (r.stream_seed, r.reinit_seed),
                    (Some(first.0), Some(first.1))
                );
            }
        }
        // Two groups in two parts: one group each.
        assert!(part(&runs, 0, 2)
            .unwrap()
            .iter()
            .all(|r| r.batch_size == 100));
        assert!(part(&runs, 2, 2).is_err());
    }
}
