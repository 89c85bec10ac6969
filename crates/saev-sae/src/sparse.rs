//! The training step over active (example, latent) pairs only.
//!
//! Once the activation has run, every product of the step but the encoder
//! forward is a sum over the latents that fired: the decoder forward
//! (`x_hat_r = b_dec + sum_j f_rj W_dec[j]`), the decoder's weight gradient
//! (`g_W_dec[j] = sum_r f_rj g_r`), the gradient into the latents
//! (`g_pre_rj = g_r . W_dec[j]` where `f_rj != 0`) and the encoder's weight
//! gradient (`g_W_enc[:, j] = sum_r g_pre_rj xc_r`). With `nnz` active pairs
//! they cost `nnz x D` each instead of `B x S x D`. The same step as the
//! dense one (`train::step_gradients`), summed in another order.

use rayon::prelude::*;

use crate::sae::{losses_of, Sae};
use crate::train::{Grads, StepOutput};

/// Below this share of active (example, latent) pairs the sparse step is
/// faster than the dense products (see docs/performance.md).
pub const SPARSE_BELOW: f64 = 0.05;

/// Share of the entries of `f_BS` that are non-zero (a parallel count, no
/// allocation: cheap next to the encoder product).
pub fn density(f_BS: &[f32]) -> f64 {
    let nnz: usize = f_BS
        .par_chunks(1 << 16)
        .map(|c| c.iter().filter(|&&v| v != 0.0).count())
        .sum();
    nnz as f64 / f_BS.len().max(1) as f64
}

/// The non-zero entries of `f_BS`, example by example (CSR).
pub(crate) struct Active {
    /// Example `r`'s pairs are `start[r]..start[r + 1]`.
    pub start: Vec<usize>,
    pub latent: Vec<u32>,
    pub value: Vec<f32>,
}

impl Active {
    pub fn of(f_BS: &[f32], s: usize) -> Active {
        let rows: Vec<Vec<(u32, f32)>> = f_BS
            .par_chunks(s)
            .map(|row| {
                row.iter()
                    .enumerate()
                    .filter(|(_, &v)| v != 0.0)
                    .map(|(j, &v)| (j as u32, v))
                    .collect()
            })
            .collect();
        let mut start = Vec::with_capacity(rows.len() + 1);
        start.push(0);
        let nnz: usize = rows.iter().map(Vec::len).sum();
        let (mut latent, mut value) = (Vec::with_capacity(nnz), Vec::with_capacity(nnz));
        for row in rows {
            for (j, v) in row {
                latent.push(j);
                value.push(v);
            }
            start.push(latent.len());
        }
        Active {
            start,
            latent,
            value,
        }
    }

    /// Each latent's (example, pair index) list: the pairs by column.
    fn by_latent(&self, s: usize) -> Vec<Vec<(u32, u32)>> {
        let mut users: Vec<Vec<(u32, u32)>> = vec![Vec::new(); s];
        for r in 0..self.start.len() - 1 {
            for p in self.start[r]..self.start[r + 1] {
                users[self.latent[p] as usize].push((r as u32, p as u32));
            }
        }
        users
    }
}

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

/// The plain objective's loss and gradients from the activations `f_BS`
/// (and centred inputs `xc_BD`), over active pairs only.
pub(crate) fn step(
    sae: &Sae,
    x_BD: &[f32],
    xc_BD: &[f32],
    f_BS: &[f32],
    act: &Active,
    coeff: f32,
    batch_threshold: Option<f32>,
) -> StepOutput {
    let (d, s) = (sae.d_vit(), sae.d_sae());
    let b = x_BD.len() / d;
    let w_dec = &sae.w_dec_SD;
    // Decoder forward, example by example.
    let mut x_hat_BD = vec![0.0f32; b * d];
    x_hat_BD.par_chunks_mut(d).enumerate().for_each(|(r, xh)| {
        xh.copy_from_slice(&sae.b_dec_D);
        for p in act.start[r]..act.start[r + 1] {
            let j = act.latent[p] as usize;
            axpy(xh, act.value[p], &w_dec[j * d..(j + 1) * d]);
        }
    });
    let losses = losses_of(x_BD, &x_hat_BD, f_BS, s, coeff);
    let scale = 2.0 / (b * d) as f32;
    let g_BD: Vec<f32> = x_hat_BD
        .iter()
        .zip(x_BD)
        .map(|(y, x)| scale * (y - x))
        .collect();
    // Gradient into each active latent: g_r . W_dec[j] plus the L1 term.
    let neg_l1 = 2.0 * coeff / b as f32;
    let mut g_pre = vec![0.0f32; act.latent.len()];
    let ranges: Vec<(usize, usize)> = (0..b).map(|r| (act.start[r], act.start[r + 1])).collect();
    let mut rest: &mut [f32] = &mut g_pre;
    let mut chunks = Vec::with_capacity(b);
    for &(lo, hi) in &ranges {
        let (head, tail) = rest.split_at_mut(hi - lo);
        chunks.push(head);
        rest = tail;
    }
    chunks.into_par_iter().enumerate().for_each(|(r, gp)| {
        let g = &g_BD[r * d..(r + 1) * d];
        for (k, p) in (act.start[r]..act.start[r + 1]).enumerate() {
            let j = act.latent[p] as usize;
            let mut v = coeff / b as f32 + dot(g, &w_dec[j * d..(j + 1) * d]);
            if act.value[p] < 0.0 {
                v -= neg_l1;
            }
            gp[k] = v;
        }
    });
    // Per latent: decoder row gradient, encoder column gradient (as a row
    // of the transposed [S, D] buffer), encoder bias gradient.
    let users = act.by_latent(s);
    let mut w_dec_SD = vec![0.0f32; s * d];
    let mut w_enc_SD = vec![0.0f32; s * d];
    let mut b_enc_S = vec![0.0f32; s];
    w_dec_SD
        .par_chunks_mut(d)
        .zip(w_enc_SD.par_chunks_mut(d))
        .zip(b_enc_S.par_iter_mut())
        .zip(&users)
        .for_each(|(((gd, ge), gb), users)| {
            for &(r, p) in users {
                let (r, p) = (r as usize, p as usize);
                axpy(gd, act.value[p], &g_BD[r * d..(r + 1) * d]);
                axpy(ge, g_pre[p], &xc_BD[r * d..(r + 1) * d]);
                *gb += g_pre[p];
            }
        });
    let w_enc_DS = transpose(&w_enc_SD, s, d);
    let mut b_dec_D = vec![0.0f32; d];
    for g in g_BD.chunks_exact(d) {
        b_dec_D.iter_mut().zip(g).for_each(|(a, g)| *a += g);
    }
    crate::train::subtract_encoder_path(&mut b_dec_D, &sae.w_enc_DS, &b_enc_S);
    StepOutput {
        losses,
        grads: Grads {
            w_enc_DS,
            b_enc_S,
            w_dec_SD,
            b_dec_D,
        },
        active_S: None,
        batch_threshold,
    }
}

/// `[rows, cols]` to `[cols, rows]`, in cache-sized tiles.
fn transpose(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    const T: usize = 64;
    let mut out = vec![0.0f32; rows * cols];
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
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_and_pairs_are_what_they_say() {
        let a: Vec<f32> = (0..6).map(|x| x as f32).collect();
        assert_eq!(transpose(&a, 2, 3), [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]);
        let act = Active::of(&[0.0, 2.0, 0.0, -1.0, 0.0, 0.0], 3);
        assert_eq!(act.start, [0, 1, 2]);
        assert_eq!(act.latent, [1, 0]);
        assert!((density(&[0.0, 2.0, 0.0, -1.0, 0.0, 0.0]) - 2.0 / 6.0).abs() < 1e-12);
    }
}
