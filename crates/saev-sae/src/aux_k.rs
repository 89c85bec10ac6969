//! The AuxK term (see [`crate::objective`]) as a list of (example, dead
//! latent) pairs: `k_aux` per example, whichever path the rest of the step
//! takes. The dense step adds the pairs into its `[B, S]` gradient; the
//! sparse step treats them as more active pairs.

use rayon::prelude::*;

use crate::density::ByLatent;
use crate::objective::AuxK;
use crate::sae::Sae;

/// Pre-activations of the latents dead before this batch, gathered before
/// the activation overwrites them: `[B, latents.len()]`.
pub(crate) struct DeadPre {
    pub latents: Vec<usize>,
    pub pre_BN: Vec<f32>,
}

impl DeadPre {
    /// Nothing gathered yet.
    pub fn new(dead_before_S: &[bool]) -> DeadPre {
        let s = dead_before_S.len();
        DeadPre {
            latents: (0..s).filter(|&j| dead_before_S[j]).collect(),
            pre_BN: Vec::new(),
        }
    }

    /// Append the dead columns of a block of pre-activations `[R, S]`.
    pub fn push(&mut self, pre_RS: &[f32], s: usize) {
        let latents = &self.latents;
        let block: Vec<f32> = pre_RS
            .par_chunks(s)
            .flat_map_iter(|row| latents.iter().map(move |&j| row[j]))
            .collect();
        self.pre_BN.extend(block);
    }

    pub fn gather(pre_BS: &[f32], s: usize, dead_before_S: &[bool]) -> DeadPre {
        let mut dead = DeadPre::new(dead_before_S);
        dead.push(pre_BS, s);
        dead
    }

    /// Dead before the batch and not fired in it.
    pub fn dead_S(&self, active_S: &[bool]) -> Vec<bool> {
        let mut dead = vec![false; active_S.len()];
        for &j in &self.latents {
            dead[j] = !active_S[j];
        }
        dead
    }
}

/// Where each example's full reconstruction lies in a buffer: row `r` is
/// `data[r * stride + offset..][..d]`.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub data: &'a [f32],
    pub stride: usize,
    pub offset: usize,
}

impl<'a> Rows<'a> {
    pub fn dense(data: &'a [f32], d: usize) -> Self {
        Rows {
            data,
            stride: d,
            offset: 0,
        }
    }

    fn row(&self, r: usize, d: usize) -> &'a [f32] {
        let at = r * self.stride + self.offset;
        &self.data[at..at + d]
    }
}

/// One example's AuxK pairs and the gradient of the term at its `e_hat`.
pub(crate) struct AuxRow {
    /// (latent, pre-activation) of the picked dead latents.
    pub picked: Vec<(usize, f32)>,
    /// `2 alpha (e_hat - e) / (B D)`, `[D]`.
    pub g_e_D: Vec<f32>,
    /// `g_e . W_dec[j]` for each picked latent: its pre-activation gradient.
    pub g_pre: Vec<f32>,
    sq: f64,
}

/// The AuxK term of a batch: its value and pairs (empty when nothing is dead).
pub(crate) struct AuxTerm {
    pub loss: f32,
    pub rows: Vec<AuxRow>,
}

impl AuxTerm {
    /// `dead_S`: dead before the batch and not fired in it. `x_hat` is the
    /// full reconstruction, whose residual the dead latents fit.
    pub fn of(
        sae: &Sae,
        x_BD: &[f32],
        x_hat: Rows,
        dead: &DeadPre,
        dead_S: &[bool],
        aux: AuxK,
    ) -> AuxTerm {
        let d = sae.d_vit();
        let b = x_BD.len() / d;
        let cols: Vec<usize> = (0..dead.latents.len())
            .filter(|&c| dead_S[dead.latents[c]])
            .collect();
        let k = aux.k_aux.min(cols.len());
        if k == 0 {
            return AuxTerm {
                loss: 0.0,
                rows: Vec::new(),
            };
        }
        let n = dead.latents.len();
        let scale = 2.0 * aux.alpha / (b * d) as f32;
        let rows: Vec<AuxRow> = (0..b)
            .into_par_iter()
            .map(|r| {
                let pre = &dead.pre_BN[r * n..(r + 1) * n];
                let mut picked: Vec<(usize, f32)> =
                    cols.iter().map(|&c| (dead.latents[c], pre[c])).collect();
                if k < picked.len() {
                    let order = |a: &(usize, f32), b: &(usize, f32)| {
                        b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
                    };
                    picked.select_nth_unstable_by(k - 1, order);
                    picked.truncate(k);
                }
                let (x, xh) = (&x_BD[r * d..(r + 1) * d], x_hat.row(r, d));
                aux_row(sae, picked, x, xh, scale)
            })
            .collect();
        let sq: f64 = rows.iter().map(|r| r.sq).sum();
        AuxTerm {
            loss: (f64::from(aux.alpha) * sq / (b * d) as f64) as f32,
            rows,
        }
    }

    /// Add the pairs into the dense step's `[B, S]` latent gradient and the
    /// decoder's weight gradient.
    pub fn add_dense(&self, sae: &Sae, g_pre_BS: &mut [f32], g_w_dec_SD: &mut [f32]) {
        if self.rows.is_empty() {
            return;
        }
        let (d, s) = (sae.d_vit(), sae.d_sae());
        g_pre_BS
            .par_chunks_mut(s)
            .zip(&self.rows)
            .for_each(|(g_row, row)| {
                for (&(j, _), g) in row.picked.iter().zip(&row.g_pre) {
                    g_row[j] += g;
                }
            });
        let users = by_latent(&self.rows, s);
        g_w_dec_SD
            .par_chunks_mut(d)
            .enumerate()
            .for_each(|(j, g_row)| {
                for &(r, q) in users.of_latent(j) {
                    let row = &self.rows[r as usize];
                    let a = row.picked[q as usize].1;
                    g_row
                        .iter_mut()
                        .zip(&row.g_e_D)
                        .for_each(|(g, e)| *g += a * e);
                }
            });
    }
}

/// The AuxK pairs grouped by latent: (example, index among its picks).
pub(crate) fn by_latent(rows: &[AuxRow], s: usize) -> ByLatent {
    let n = rows.iter().map(|r| r.picked.len()).sum();
    ByLatent::of(s, n, |emit| {
        for (r, row) in rows.iter().enumerate() {
            for (q, &(j, _)) in row.picked.iter().enumerate() {
                emit(r, j, q);
            }
        }
    })
}

/// `e_hat = sum a_j W_dec[j]` (no decoder bias, as in the paper), its
/// squared error against `e = x - x_hat`, and the gradients.
fn aux_row(sae: &Sae, picked: Vec<(usize, f32)>, x: &[f32], xh: &[f32], scale: f32) -> AuxRow {
    let d = sae.d_vit();
    let row = |j: usize| &sae.w_dec_SD[j * d..(j + 1) * d];
    let mut g_e_D = vec![0.0f32; d];
    for &(j, a) in &picked {
        g_e_D.iter_mut().zip(row(j)).for_each(|(e, w)| *e += a * w);
    }
    let mut sq = 0.0f64;
    for ((e, &x), &xh) in g_e_D.iter_mut().zip(x).zip(xh) {
        let diff = *e - (x - xh);
        sq += f64::from(diff) * f64::from(diff);
        *e = scale * diff;
    }
    let g_pre = picked
        .iter()
        .map(|&(j, _)| row(j).iter().zip(&g_e_D).map(|(w, g)| w * g).sum())
        .collect();
    AuxRow {
        picked,
        g_e_D,
        g_pre,
        sq,
    }
}
