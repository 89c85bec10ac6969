//! One training step's gradients, saev's way, on the CPU (dense products,
//! or the sparse path of `sparse.rs` when few latents fire).
//!
//! Gradients of `loss = mean((x_hat - x)^2) + c * mean_b(sum_S f)`:
//!
//! ```text
//! g_xhat = 2 (x_hat - x) / (B D)                    [B, D]
//! g_Wdec = f^T g_xhat,   g_bdec = sum_b g_xhat
//! g_pre  = (g_xhat W_dec^T + c / B) * (pre > 0)     [B, S]
//! g_Wenc = (x - b_dec)^T g_pre,   g_benc = sum_b g_pre
//! g_bdec -= W_enc g_benc                            (b_dec also enters the encoder)
//! ```

use rayon::prelude::*;

use crate::aux_k::{AuxTerm, DeadPre};
use crate::codes::SparseCodes;
use crate::density::SPARSE_BELOW;
use crate::matmul::{matmul, matmul_into, View};
use crate::sae::{losses_of, Losses, Sae};
use crate::step::{subtract_encoder_path, Grads, StepOptions, StepOutput, StepPath, Workspace};

/// Compute the loss terms and gradients of `sae` on a batch (no update),
/// with the plain objective.
pub fn gradients(sae: &Sae, x_BD: &[f32], coeff: f32) -> (Losses, Grads) {
    let out = step_gradients(
        sae,
        x_BD,
        StepOptions {
            coeff,
            prefixes: None,
            aux: None,
        },
    );
    (out.losses, out.grads)
}

/// Compute loss terms and gradients with any activation and objective.
///
/// The `[B, S]` work is done in place and in parallel: `f` overwrites the
/// pre-activations (`f != 0` exactly where the activation lets the gradient
/// through), and column sums are products with a row of ones. Matryoshka
/// prefixes are decoded block by block: block `j`'s latents appear in every
/// prefix from `j` on, so their gradient uses the sum of those prefixes'
/// output gradients and the whole step still costs four products.
pub fn step_gradients(sae: &Sae, x_BD: &[f32], opts: StepOptions) -> StepOutput {
    step_gradients_on(sae, x_BD, opts, StepPath::Auto)
}

/// [`step_gradients`] on a chosen [`StepPath`]: the same step either way,
/// summed in another order.
pub fn step_gradients_on(sae: &Sae, x_BD: &[f32], opts: StepOptions, path: StepPath) -> StepOutput {
    step_in(sae, x_BD, opts, path, &mut Workspace::default())
}

/// [`step_gradients_on`] writing into `ws`'s buffers.
pub(crate) fn step_in(
    sae: &Sae,
    x_BD: &[f32],
    opts: StepOptions,
    path: StepPath,
    ws: &mut Workspace,
) -> StepOutput {
    let s = sae.d_sae();
    ws.grads.sized(sae.d_vit(), s);
    let blocks = crate::objective::blocks(opts.prefixes, s);
    let mut step = Step {
        sae,
        x_BD,
        opts,
        blocks: &blocks,
        ws,
    };
    let dead_before = opts.aux.map(|(_, dead)| dead);
    // Encode block by block, never holding [B, S], unless the dense step
    // will be cheaper (BatchTopK: known from k; else the first block shows).
    let batch_topk_dense = match sae.cfg.activation {
        crate::Activation::BatchTopK { top_k, .. } => top_k as f64 / s as f64 >= SPARSE_BELOW,
        _ => false,
    };
    let blockwise = match path {
        StepPath::Dense => false,
        StepPath::Sparse => true,
        StepPath::Auto => !batch_topk_dense,
    };
    if blockwise {
        let xc_BD = crate::sae::centred(sae, x_BD);
        let mut dead = dead_before.map(DeadPre::new);
        let give_up = (path == StepPath::Auto).then_some(2.0 * SPARSE_BELOW);
        let codes = crate::encode::encode_train_blocks(sae, &xc_BD, give_up, |pre| {
            if let Some(dead) = &mut dead {
                dead.push(pre, s);
            }
        });
        return match codes {
            Ok((c, cut)) if path == StepPath::Sparse || c.density() < SPARSE_BELOW => {
                step.sparse(&xc_BD, &c, dead.as_ref(), cut)
            }
            Ok((c, cut)) => step.dense(xc_BD, c.to_dense(), dead, cut),
            Err(first_RS) => {
                let f_BS = dense_after_first(sae, &xc_BD, first_RS, dead.as_mut());
                step.dense(xc_BD, f_BS, dead, None)
            }
        };
    }
    let mut f_BS = vec![0.0; x_BD.len() / sae.d_vit() * s];
    let xc_BD = sae.pre_activations(x_BD, &mut f_BS);
    let dead = dead_before.map(|dead| DeadPre::gather(&f_BS, s, dead));
    let threshold = sae.cfg.activation.apply_train(&mut f_BS, s);
    step.dense(xc_BD, f_BS, dead, threshold)
}

/// The training-mode latents `[B, S]` of a batch whose first block
/// (`first_RS`, already activated and gathered for AuxK) showed it dense.
fn dense_after_first(
    sae: &Sae,
    xc_BD: &[f32],
    first_RS: Vec<f32>,
    dead: Option<&mut DeadPre>,
) -> Vec<f32> {
    let (d, s) = (sae.d_vit(), sae.d_sae());
    let mut f_BS = first_RS;
    let done = f_BS.len() / s;
    f_BS.resize(xc_BD.len() / d * s, 0.0);
    let rest = &mut f_BS[done * s..];
    crate::sae::pre_activations_into(sae, &xc_BD[done * d..], rest);
    if let Some(dead) = dead {
        dead.push(rest, s);
    }
    sae.cfg.activation.apply_train(rest, s);
    f_BS
}

/// One step's inputs, whichever path computes it.
struct Step<'a> {
    sae: &'a Sae,
    x_BD: &'a [f32],
    opts: StepOptions<'a>,
    /// Matryoshka blocks `[lo, hi)` of latents (one, `[0, S)`, without it).
    blocks: &'a [(usize, usize)],
    ws: &'a mut Workspace,
}

impl Step<'_> {
    fn sparse(
        &mut self,
        xc_BD: &[f32],
        codes: &SparseCodes,
        dead: Option<&DeadPre>,
        batch_threshold: Option<f32>,
    ) -> StepOutput {
        let input = crate::sparse::Input {
            x_BD: self.x_BD,
            xc_BD,
            act: codes,
            coeff: self.opts.coeff,
            blocks: self.blocks,
            aux: self.opts.aux.map(|(aux, _)| aux).zip(dead),
        };
        let mut out = crate::sparse::step(self.sae, input, self.ws);
        out.batch_threshold = batch_threshold;
        out
    }

    /// The dense products over `f_BS` (activated latents, `[B, S]`).
    fn dense(
        &mut self,
        xc_BD: Vec<f32>,
        f_BS: Vec<f32>,
        dead_pre: Option<DeadPre>,
        batch_threshold: Option<f32>,
    ) -> StepOutput {
        let (sae, x_BD, opts, blocks) = (self.sae, self.x_BD, self.opts, self.blocks);
        let (d, s) = (sae.d_vit(), sae.d_sae());
        let b = x_BD.len() / d;
        let n = blocks.len();
        let coeff = opts.coeff;
        let f = View::new(&f_BS, b, s);
        let w_dec = View::new(&sae.w_dec_SD, s, d);

        // Prefix reconstructions: x_hat_j = x_hat_{j-1} + f[:, block j] W_dec[block j].
        let mut x_hats: Vec<Vec<f32>> = Vec::with_capacity(n);
        for (j, &(lo, hi)) in blocks.iter().enumerate() {
            let mut x_hat_BD = match x_hats.last() {
                Some(prev) => prev.clone(),
                None => sae.b_dec_D.iter().copied().cycle().take(b * d).collect(),
            };
            matmul(&mut x_hat_BD, f.columns(lo, hi), w_dec.rows(lo, hi), true);
            debug_assert_eq!(x_hats.len(), j);
            x_hats.push(x_hat_BD);
        }
        let x_hat_BD = x_hats.last().expect("one prefix at least");
        let mut losses = losses_of(x_BD, x_hat_BD, &f_BS, s, coeff);
        if n > 1 {
            losses.mse = x_hats
                .iter()
                .map(|xh| losses_of(x_BD, xh, &[], 1, 0.0).mse)
                .sum::<f32>()
                / n as f32;
            losses.loss = losses.mse + coeff * losses.l1;
        }
        let ones_B = vec![1.0f32; b];

        // Output gradients, summed from the last prefix back: g_j = sum_{i >= j} g_xhat_i.
        let scale = 2.0 / (b * d * n) as f32;
        let mut g_suffix: Vec<Vec<f32>> = vec![Vec::new(); n];
        for j in (0..n).rev() {
            let mut g: Vec<f32> = x_hats[j]
                .iter()
                .zip(x_BD)
                .map(|(y, x)| scale * (y - x))
                .collect();
            if j + 1 < n {
                g.iter_mut()
                    .zip(&g_suffix[j + 1])
                    .for_each(|(a, b)| *a += b);
            }
            g_suffix[j] = g;
        }
        let mut grads = std::mem::take(&mut self.ws.grads);
        let w_dec_SD = &mut grads.w_dec_SD;
        for (&(lo, hi), g) in blocks.iter().zip(&g_suffix) {
            matmul(
                &mut w_dec_SD[lo * d..hi * d],
                f.columns(lo, hi).t(),
                View::new(g, b, d),
                false,
            );
        }
        let b_dec_D = &mut grads.b_dec_D;
        matmul(
            b_dec_D,
            View::new(&ones_B, 1, b),
            View::new(&g_suffix[0], b, d),
            false,
        );
        // g_pre = (g_xhat W_dec^T + c sign(f) / B) where f != 0, else 0.
        let mut g_pre_BS = vec![coeff / b as f32; b * s];
        for (&(lo, hi), g) in blocks.iter().zip(&g_suffix) {
            matmul_into(
                &mut g_pre_BS[lo..],
                s,
                View::new(g, b, d),
                w_dec.rows(lo, hi).t(),
                true,
            );
        }
        let neg_l1 = 2.0 * coeff / b as f32;
        g_pre_BS
            .par_chunks_mut(1 << 16)
            .zip(f_BS.par_chunks(1 << 16))
            .for_each(|(g, f)| {
                g.iter_mut().zip(f).for_each(|(g, &f)| {
                    if f == 0.0 {
                        *g = 0.0
                    } else if f < 0.0 {
                        *g -= neg_l1
                    }
                })
            });

        let mut active_S = None;
        if let (Some((aux, _)), Some(dead_pre)) = (opts.aux, &dead_pre) {
            let active = fired(&f_BS, s);
            let dead_S = dead_pre.dead_S(&active);
            let x_hat = crate::aux_k::Rows::dense(x_hat_BD, d);
            let term = AuxTerm::of(sae, x_BD, x_hat, dead_pre, &dead_S, aux);
            term.add_dense(sae, &mut g_pre_BS, w_dec_SD);
            losses.aux = term.loss;
            losses.loss += losses.aux;
            active_S = Some(active);
        }

        matmul(
            &mut grads.w_enc_DS,
            View::new(&xc_BD, b, d).t(),
            View::new(&g_pre_BS, b, s),
            false,
        );
        matmul(
            &mut grads.b_enc_S,
            View::new(&ones_B, 1, b),
            View::new(&g_pre_BS, b, s),
            false,
        );
        subtract_encoder_path(&mut grads.b_dec_D, &sae.w_enc_DS, &grads.b_enc_S);
        StepOutput {
            losses,
            grads,
            active_S,
            batch_threshold,
        }
    }
}

/// Which latents are non-zero for at least one example.
fn fired(f_BS: &[f32], s: usize) -> Vec<bool> {
    f_BS.par_chunks(s * 64)
        .map(|rows| {
            let mut any = vec![false; s];
            for row in rows.chunks_exact(s) {
                any.iter_mut().zip(row).for_each(|(a, &v)| *a |= v != 0.0);
            }
            any
        })
        .reduce(
            || vec![false; s],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(a, b)| *a |= b);
                a
            },
        )
}
