//! The training step over active (example, latent) pairs only.
//!
//! Once the activation has run, every product of the step but the encoder
//! forward is a sum over the latents that fired: the decoder forward
//! (`x_hat_r = b_dec + sum_j f_rj W_dec[j]`), the decoder's weight gradient
//! (`g_W_dec[j] = sum_r f_rj g_r`), the gradient into the latents
//! (`g_pre_rj = g_r . W_dec[j]` where `f_rj != 0`) and the encoder's weight
//! gradient (`g_W_enc[:, j] = sum_r g_pre_rj xc_r`). With `nnz` active pairs
//! they cost `nnz x D` each instead of `B x S x D`. The same step as the
//! dense one (`train::step_gradients`), summed in another order, for every
//! objective: with Matryoshka prefixes a latent of block `k` sees the sum of
//! the output gradients of prefixes `k..n`; AuxK's (example, dead latent)
//! pairs join the active ones in the per-latent sums.

use rayon::prelude::*;

use crate::aux_k::{AuxTerm, DeadPre, Rows};
use crate::codes::SparseCodes;
use crate::density::ByLatent;
use crate::objective::AuxK;
use crate::sae::{Losses, Sae};
use crate::step::{subtract_encoder_path, StepOutput, Workspace};

pub use crate::density::{density, SPARSE_BELOW};

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight lanes, so the compiler vectorizes the sum.
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

/// What the sparse step needs beyond the SAE.
pub(crate) struct Input<'a> {
    pub x_BD: &'a [f32],
    /// `x - b_dec`, what the encoder saw.
    pub xc_BD: &'a [f32],
    pub act: &'a SparseCodes,
    pub coeff: f32,
    /// Matryoshka blocks `[lo, hi)` of latents (one, `[0, S)`, without it).
    pub blocks: &'a [(usize, usize)],
    pub aux: Option<(AuxK, &'a DeadPre)>,
}

/// Prefix reconstructions and their output gradients, example by example
/// (`[B, n, D]` each), each (example, prefix)'s squared error, and each
/// active pair's pre-activation gradient.
struct Decoded {
    x_hat_BND: Vec<f32>,
    g_BND: Vec<f32>,
    sq_BN: Vec<f64>,
    g_pre: Vec<f32>,
}

/// `x_hat_k = b_dec + sum over active pairs of blocks 0..=k of f_rj W_dec[j]`
/// and `g_k = sum_{i >= k} 2 (x_hat_i - x) / (B D n)`: the gradient every
/// latent of block `k` sees. Then each pair's `g_k . W_dec[j]` while the
/// example's decoder rows are still in cache.
fn decode(sae: &Sae, input: &Input) -> Decoded {
    let d = sae.d_vit();
    let (x_BD, act, blocks) = (input.x_BD, input.act, input.blocks);
    let (b, n) = (x_BD.len() / d, blocks.len());
    let scale = 2.0 / (b * d * n) as f32;
    let mut x_hat_BND = vec![0.0f32; b * n * d];
    let mut g_BND = vec![0.0f32; b * n * d];
    let mut sq_BN = vec![0.0f64; b * n];
    let mut g_pre = vec![0.0f32; act.nnz()];
    x_hat_BND
        .par_chunks_mut(n * d)
        .zip(g_BND.par_chunks_mut(n * d))
        .zip(sq_BN.par_chunks_mut(n))
        .zip(pair_rows(&mut g_pre, act))
        .enumerate()
        .for_each(|(r, (((xh, g), sq), gp))| {
            let x = &x_BD[r * d..(r + 1) * d];
            decode_row(sae, act, blocks, r, xh);
            output_gradients(xh, x, scale, g, sq);
            pair_gradients(sae, input, r, g, gp);
        });
    Decoded {
        x_hat_BND,
        g_BND,
        sq_BN,
        g_pre,
    }
}

/// `g_pre` cut into each example's pairs, for a parallel zip.
fn pair_rows<'a>(g_pre: &'a mut [f32], act: &SparseCodes) -> rayon::vec::IntoIter<&'a mut [f32]> {
    let b = act.n_examples();
    let mut rest = g_pre;
    let mut rows = Vec::with_capacity(b);
    for r in 0..b {
        let (head, tail) = rest.split_at_mut(act.start[r + 1] - act.start[r]);
        rows.push(head);
        rest = tail;
    }
    rows.into_par_iter()
}

/// Example `r`'s prefix reconstructions into `xh` (`[n, D]`).
fn decode_row(sae: &Sae, act: &SparseCodes, blocks: &[(usize, usize)], r: usize, xh: &mut [f32]) {
    let d = sae.d_vit();
    let mut p = act.start[r];
    xh[..d].copy_from_slice(&sae.b_dec_D);
    for (k, &(_, hi)) in blocks.iter().enumerate() {
        if k > 0 {
            xh.copy_within((k - 1) * d..k * d, k * d);
        }
        let slot = &mut xh[k * d..(k + 1) * d];
        while p < act.start[r + 1] && (act.latent[p] as usize) < hi {
            let j = act.latent[p] as usize;
            axpy(slot, act.value[p], &sae.w_dec_SD[j * d..(j + 1) * d]);
            p += 1;
        }
    }
}

/// One example's suffix-summed output gradients (`[n, D]`) and squared
/// errors per prefix.
fn output_gradients(xh: &[f32], x: &[f32], scale: f32, g: &mut [f32], sq: &mut [f64]) {
    let d = x.len();
    let n = sq.len();
    for k in (0..n).rev() {
        let (now, later) = g.split_at_mut((k + 1) * d);
        let now = &mut now[k * d..];
        let mut err = 0.0f64;
        for i in 0..d {
            let diff = xh[k * d + i] - x[i];
            err += f64::from(diff) * f64::from(diff);
            now[i] = scale * diff + if k + 1 < n { later[i] } else { 0.0 };
        }
        sq[k] = err;
    }
}

/// The block holding latent `j`.
fn block_of(blocks: &[(usize, usize)], j: usize) -> usize {
    blocks.partition_point(|&(_, hi)| hi <= j)
}

/// Example `r`'s pair gradients: `g_k . W_dec[j]` plus the L1 term's
/// `c sign(f) / B`.
fn pair_gradients(sae: &Sae, input: &Input, r: usize, g_row: &[f32], out: &mut [f32]) {
    let d = sae.d_vit();
    let (act, blocks) = (input.act, input.blocks);
    let b = act.n_examples();
    let (l1, neg_l1) = (input.coeff / b as f32, 2.0 * input.coeff / b as f32);
    for (out, p) in out.iter_mut().zip(act.start[r]..act.start[r + 1]) {
        let j = act.latent[p] as usize;
        let k = block_of(blocks, j);
        let g = &g_row[k * d..(k + 1) * d];
        let mut v = l1 + dot(g, &sae.w_dec_SD[j * d..(j + 1) * d]);
        if act.value[p] < 0.0 {
            v -= neg_l1;
        }
        *out = v;
    }
}

/// The loss terms and gradients of the step from the active pairs.
/// Gradients go into `ws` (every value overwritten).
pub(crate) fn step(sae: &Sae, input: Input, ws: &mut Workspace) -> StepOutput {
    let (d, s) = (sae.d_vit(), sae.d_sae());
    let (x_BD, act, blocks) = (input.x_BD, input.act, input.blocks);
    let (b, n) = (x_BD.len() / d, blocks.len());
    let dec = decode(sae, &input);
    let mut losses = losses_of_pairs(act, &dec.sq_BN, b * d, n, input.coeff);
    let by_latent = ByLatent::of(s, act.latent.len(), |emit| {
        for r in 0..b {
            for p in act.start[r]..act.start[r + 1] {
                emit(r, act.latent[p] as usize, p);
            }
        }
    });
    let active_S: Vec<bool> = (0..s).map(|j| by_latent.has(j)).collect();
    let aux = input.aux.map(|(aux, dead)| {
        let x_hat = Rows {
            data: &dec.x_hat_BND,
            stride: n * d,
            offset: (n - 1) * d,
        };
        AuxTerm::of(sae, x_BD, x_hat, dead, &dead.dead_S(&active_S), aux)
    });
    let aux_rows: &[crate::aux_k::AuxRow] = aux.as_ref().map_or(&[], |a| &a.rows);
    let aux_by_latent = crate::aux_k::by_latent(aux_rows, s);
    if let Some(a) = &aux {
        losses.aux = a.loss;
        losses.loss += a.loss;
    }
    ws.enc_SD.resize(s * d, 0.0);
    let mut grads = std::mem::take(&mut ws.grads);
    let out = LatentGrads {
        w_dec_SD: &mut grads.w_dec_SD,
        w_enc_SD: &mut ws.enc_SD,
        b_enc_S: &mut grads.b_enc_S,
    };
    latent_gradients(
        sae,
        &input,
        &dec,
        [&by_latent, &aux_by_latent],
        aux_rows,
        out,
    );
    grads.b_dec_D.fill(0.0);
    for g in dec.g_BND.chunks_exact(n * d) {
        grads
            .b_dec_D
            .iter_mut()
            .zip(&g[..d])
            .for_each(|(a, g)| *a += g);
    }
    subtract_encoder_path(&mut grads.b_dec_D, &sae.w_enc_DS, &grads.b_enc_S);
    transpose_into(&ws.enc_SD, s, d, &mut grads.w_enc_DS);
    StepOutput {
        losses,
        grads,
        active_S: input.aux.is_some().then_some(active_S),
        batch_threshold: None,
    }
}

/// Where [`latent_gradients`] writes, a row (or value) per latent.
struct LatentGrads<'a> {
    w_dec_SD: &'a mut [f32],
    /// The encoder's columns, as rows.
    w_enc_SD: &'a mut [f32],
    b_enc_S: &'a mut [f32],
}

/// Per latent: its decoder row's gradient, its encoder column's (as a row
/// of an `[S, D]` buffer) and its encoder bias's, over its active pairs and
/// its AuxK pairs.
fn latent_gradients(
    sae: &Sae,
    input: &Input,
    dec: &Decoded,
    [active, aux]: [&ByLatent; 2],
    aux_rows: &[crate::aux_k::AuxRow],
    out: LatentGrads,
) {
    let d = sae.d_vit();
    let n = input.blocks.len();
    let (act, xc_BD, g_pre) = (input.act, input.xc_BD, &dec.g_pre);
    let xc = |r: usize| &xc_BD[r * d..(r + 1) * d];
    out.w_dec_SD
        .par_chunks_mut(d)
        .zip(out.w_enc_SD.par_chunks_mut(d))
        .zip(out.b_enc_S.par_iter_mut())
        .enumerate()
        .for_each(|(j, ((gd, ge), gb))| {
            gd.fill(0.0);
            ge.fill(0.0);
            *gb = 0.0;
            let k = block_of(input.blocks, j);
            for &(r, p) in active.of_latent(j) {
                let (r, p) = (r as usize, p as usize);
                let at = (r * n + k) * d;
                axpy(gd, act.value[p], &dec.g_BND[at..at + d]);
                axpy(ge, g_pre[p], xc(r));
                *gb += g_pre[p];
            }
            for &(r, q) in aux.of_latent(j) {
                let row = &aux_rows[r as usize];
                let q = q as usize;
                axpy(gd, row.picked[q].1, &row.g_e_D);
                axpy(ge, row.g_pre[q], xc(r as usize));
                *gb += row.g_pre[q];
            }
        });
}

/// MSE (averaged over prefixes), L1 and L0 from the active pairs and each
/// (example, prefix)'s squared error; summed in a fixed order.
fn losses_of_pairs(
    act: &SparseCodes,
    sq_BN: &[f64],
    n_values: usize,
    n: usize,
    coeff: f32,
) -> Losses {
    let b = act.start.len() - 1;
    let mut per_prefix = vec![0.0f64; n];
    for row in sq_BN.chunks_exact(n) {
        per_prefix.iter_mut().zip(row).for_each(|(a, v)| *a += v);
    }
    let mse = per_prefix
        .iter()
        .map(|&sq| (sq / n_values as f64) as f32)
        .sum::<f32>()
        / n as f32;
    let l1 = (crate::sae::chunked_sum(&act.value, &act.value, |v, _| f64::from(v.abs())) / b as f64)
        as f32;
    Losses {
        loss: mse + coeff * l1,
        mse,
        l1,
        l0: act.latent.len() as f32 / b as f32,
        aux: 0.0,
    }
}

/// `[rows, cols]` to `[cols, rows]` into `out`, in cache-sized tiles.
fn transpose_into(a: &[f32], rows: usize, cols: usize, out: &mut [f32]) {
    const T: usize = 64;
    out.par_chunks_mut(T * rows)
        .enumerate()
        .for_each(|(tc, block)| {
            let c0 = tc * T;
            let c1 = (c0 + T).min(cols);
            for r0 in (0..rows).step_by(T) {
                for r in r0..(r0 + T).min(rows) {
                    for c in c0..c1 {
                        block[(c - c0) * rows + r] = a[r * cols + c];
                    }
                }
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_and_pairs_are_what_they_say() {
        let a: Vec<f32> = (0..6).map(|x| x as f32).collect();
        let mut t = vec![0.0; 6];
        transpose_into(&a, 2, 3, &mut t);
        assert_eq!(t, [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let act = SparseCodes::of_dense(&[0.0, 2.0, 0.0, -1.0, 0.0, 0.0], 3);
        assert_eq!(act.start, [0, 1, 2]);
        assert_eq!(act.latent, [1, 0]);
        assert_eq!(
            (act.get(0, 1), act.get(0, 0), act.get(1, 0)),
            (2.0, 0.0, -1.0)
        );
        assert!((density(&[0.0, 2.0, 0.0, -1.0, 0.0, 0.0]) - 2.0 / 6.0).abs() < 1e-12);
    }
}
