//! Latents as (latent, value) pairs example by example, computed a block of
//! examples at a time so no `[B, S]` buffer is ever held: the form every
//! bulk consumer of latents (training's sparse step, evaluation, visuals,
//! steering) reads.

use rayon::prelude::*;

use crate::sae::Sae;

/// Examples encoded per block: the one `[ROWS, S]` buffer a block needs
/// (12.6 MB at S = 12,288) and still a product `gemm` runs at full speed.
pub const ROWS: usize = 256;

/// A batch's non-zero latents, example by example (CSR): example `r`'s are
/// `latent[start[r]..start[r + 1]]` (increasing) with their `value`s.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseCodes {
    pub d_sae: usize,
    pub start: Vec<usize>,
    pub latent: Vec<u32>,
    pub value: Vec<f32>,
}

impl SparseCodes {
    /// The non-zero entries of a dense `[B, S]` buffer.
    pub fn of_dense(f_BS: &[f32], s: usize) -> SparseCodes {
        let mut codes = SparseCodes::empty(s);
        codes.push_rows(f_BS);
        codes
    }

    pub(crate) fn empty(d_sae: usize) -> SparseCodes {
        SparseCodes {
            d_sae,
            start: vec![0],
            latent: Vec::new(),
            value: Vec::new(),
        }
    }

    /// Append the rows of a dense block.
    pub(crate) fn push_rows(&mut self, f_RS: &[f32]) {
        let s = self.d_sae;
        let rows: Vec<Vec<(u32, f32)>> = f_RS.par_chunks(s).map(nonzero_pairs).collect();
        for row in rows {
            for (j, v) in row {
                self.latent.push(j);
                self.value.push(v);
            }
            self.start.push(self.latent.len());
        }
    }

    /// Examples in the batch.
    pub fn n_examples(&self) -> usize {
        self.start.len() - 1
    }

    /// Active (example, latent) pairs in the batch.
    pub fn nnz(&self) -> usize {
        self.latent.len()
    }

    /// Share of the `[B, S]` entries that are non-zero.
    pub fn density(&self) -> f64 {
        self.nnz() as f64 / (self.n_examples() * self.d_sae).max(1) as f64
    }

    /// Example `r`'s latents and values.
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let (lo, hi) = (self.start[r], self.start[r + 1]);
        (&self.latent[lo..hi], &self.value[lo..hi])
    }

    /// Example `r`'s value of latent `j` (0 when it did not fire).
    pub fn get(&self, r: usize, j: usize) -> f32 {
        let (latents, values) = self.row(r);
        latents
            .binary_search(&(j as u32))
            .map_or(0.0, |at| values[at])
    }

    /// Back to a dense `[B, S]` buffer.
    pub fn to_dense(&self) -> Vec<f32> {
        let s = self.d_sae;
        let mut f_BS = vec![0.0f32; self.n_examples() * s];
        f_BS.par_chunks_mut(s).enumerate().for_each(|(r, out)| {
            let (latents, values) = self.row(r);
            for (&j, &v) in latents.iter().zip(values) {
                out[j as usize] = v;
            }
        });
        f_BS
    }
}

/// A row's (index, value) pairs where the value is not zero. Sixteen
/// values are tested at once (branch-free, so vectorized) and only blocks
/// holding a non-zero value are looked at one by one.
fn nonzero_pairs(row: &[f32]) -> Vec<(u32, f32)> {
    const W: usize = 16;
    let mut out = Vec::new();
    for (c, block) in row.chunks(W).enumerate() {
        if block.iter().fold(false, |any, &v| any | (v != 0.0)) {
            let nz = block.iter().enumerate().filter(|(_, &v)| v != 0.0);
            out.extend(nz.map(|(i, &v)| ((c * W + i) as u32, v)));
        }
    }
    out
}

impl Sae {
    /// `x_hat = b_dec + sum_j f_j W_dec[j]` over each example's pairs
    /// ([`Sae::decode`] without touching the latents that did not fire;
    /// codes too dense for that, as an untrained ReLU SAE's, go through
    /// the dense product).
    pub fn decode_sparse(&self, codes: &SparseCodes) -> Vec<f32> {
        if codes.density() >= crate::density::SPARSE_BELOW {
            return self.decode(&codes.to_dense());
        }
        let d = self.d_vit();
        let mut x_hat_BD = vec![0.0f32; codes.n_examples() * d];
        x_hat_BD.par_chunks_mut(d).enumerate().for_each(|(r, xh)| {
            xh.copy_from_slice(&self.b_dec_D);
            let (latents, values) = codes.row(r);
            for (&j, &v) in latents.iter().zip(values) {
                let w = &self.w_dec_SD[j as usize * d..(j as usize + 1) * d];
                xh.iter_mut().zip(w).for_each(|(y, w)| *y += v * w);
            }
        });
        x_hat_BD
    }
}
