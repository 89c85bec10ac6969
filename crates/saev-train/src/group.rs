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
        for r in g.iter_mut() {
            r.stream_seed = Some(seed);
        }
    }
    groups
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
}
