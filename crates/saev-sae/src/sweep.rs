//! saev's sweep files: TOML whose lists expand to a grid, in saev's order,
//! with saev's seeds.
//!
//! Keys expand in file order, the last one varying fastest; a table (`[sae]`,
//! `[data]`) is expanded on its own and its combinations take part in the
//! product as one axis. Config `d` (counting from 0) gets `seed + d`.
//!
//! saev derives SAE seeds as `sae.seed (or the table's own seed) + seed + d`,
//! but its expansion shares one dict per `[sae]` combination across the outer
//! combinations and writes the seed into it, so a combination's second use
//! starts from the seed its first use got. With the preprint's sweep the SAE
//! seeds are 42..47, then 90, 92, ..., 100, then 144, 147, ...: [`grid`]
//! reproduces that, so runs seed exactly as saev's did.

use toml::{Table, Value};

/// One point of a sweep grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// The settings of this point (tables as nested tables).
    pub values: Table,
    /// Training seed: `seed + d`.
    pub seed: i64,
    /// SAE seed as saev derives it.
    pub sae_seed: i64,
}

/// Expand a table into its combinations, in saev's order.
pub fn expand(table: &Table) -> Vec<Table> {
    expand_with_axes(table)
        .into_iter()
        .map(|(t, _)| t)
        .collect()
}

/// Combinations, each with the index of the `sae` sub-combination it uses.
fn expand_with_axes(table: &Table) -> Vec<(Table, Option<usize>)> {
    let mut out: Vec<(Table, Option<usize>)> = vec![(Table::new(), None)];
    for (key, value) in table {
        let choices: Vec<(Value, Option<usize>)> = match value {
            Value::Array(items) => items.iter().map(|v| (v.clone(), None)).collect(),
            Value::Table(sub) => expand(sub)
                .into_iter()
                .enumerate()
                .map(|(j, t)| (Value::Table(t), (key == "sae").then_some(j)))
                .collect(),
            scalar => vec![(scalar.clone(), None)],
        };
        out = out
            .into_iter()
            .flat_map(|(t, sae)| {
                choices.iter().map(move |(v, j)| {
                    let mut t = t.clone();
                    t.insert(key.clone(), v.clone());
                    (t, j.or(sae))
                })
            })
            .collect();
    }
    out
}

/// The grid of a sweep file with saev's seeds, given the command line's
/// `seed` and `sae.seed`.
pub fn grid(text: &str, seed: i64, sae_seed: i64) -> Result<Vec<Point>, String> {
    let table: Table = text.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let combos = expand_with_axes(&table);
    let n_sae = combos
        .iter()
        .filter_map(|(_, j)| *j)
        .max()
        .map_or(1, |m| m + 1);
    let mut last_seed: Vec<Option<i64>> = vec![None; n_sae];
    let mut points = Vec::with_capacity(combos.len());
    for (d, (values, j)) in combos.into_iter().enumerate() {
        let j = j.unwrap_or(0);
        let own = values
            .get("sae")
            .and_then(|s| s.get("seed"))
            .and_then(Value::as_integer)
            .unwrap_or(sae_seed);
        let start = last_seed[j].unwrap_or(own);
        let derived = start + seed + d as i64;
        if table.contains_key("sae") {
            last_seed[j] = Some(derived);
        }
        points.push(Point {
            values,
            seed: seed + d as i64,
            sae_seed: derived,
        });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_last_key_fastest() {
        let t: Table = "a = [1, 2]\nb = [3, 4]\n".parse().unwrap();
        let got: Vec<(i64, i64)> = expand(&t)
            .iter()
            .map(|c| (c["a"].as_integer().unwrap(), c["b"].as_integer().unwrap()))
            .collect();
        assert_eq!(got, [(1, 3), (1, 4), (2, 3), (2, 4)]);
    }

    #[test]
    fn preprint_sweep_matches_saev_grid_and_seeds() {
        let text = include_str!("../../../configs/preprint/classification.toml");
        let points = grid(text, 42, 0).unwrap();
        assert_eq!(points.len(), 24);
        // Printed by saev's config.grid(config.Train(), tomllib.loads(text)).
        let sae_seeds: Vec<i64> = points.iter().map(|p| p.sae_seed).collect();
        assert_eq!(
            sae_seeds,
            [
                42, 43, 44, 45, 46, 47, 90, 92, 94, 96, 98, 100, 144, 147, 150, 153, 156, 159, 204,
                208, 212, 216, 220, 224
            ]
        );
        assert_eq!(
            points.iter().map(|p| p.seed).collect::<Vec<_>>(),
            (42..66).collect::<Vec<_>>()
        );
        let first: Vec<(f64, f64, i64)> = points[..8]
            .iter()
            .map(|p| {
                let sae = p.values["sae"].as_table().unwrap();
                (
                    p.values["lr"].as_float().unwrap(),
                    sae["sparsity_coeff"].as_float().unwrap(),
                    sae["exp_factor"].as_integer().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            first,
            [
                (1e-4, 4e-4, 16),
                (1e-4, 4e-4, 32),
                (1e-4, 8e-4, 16),
                (1e-4, 8e-4, 32),
                (1e-4, 1.6e-3, 16),
                (1e-4, 1.6e-3, 32),
                (3e-4, 4e-4, 16),
                (3e-4, 4e-4, 32)
            ]
        );
    }

    #[test]
    fn sweeps_without_tables_still_expand() {
        let points = grid("lr = [1e-3, 1e-4]\n", 7, 0).unwrap();
        assert_eq!(
            points
                .iter()
                .map(|p| (p.seed, p.sae_seed))
                .collect::<Vec<_>>(),
            [(7, 7), (8, 8)]
        );
    }
}
