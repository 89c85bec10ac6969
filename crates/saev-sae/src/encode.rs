//! The encoder run a block of examples at a time (`ROWS`), so no `[B, S]`
//! buffer is held: inference-mode codes ([`Sae::encode_sparse`]) and the
//! training step's codes (every activation, BatchTopK's batch-wide cut).

use crate::activation::Activation;
use crate::codes::{SparseCodes, ROWS};
use crate::sae::{centred, pre_activations_into, Sae};

/// Pre-activations `xc @ W_enc + b_enc` of `ROWS` examples at a time:
/// `each(first example, [rows, S] block)`, until it returns `false`.
pub(crate) fn pre_activation_blocks(
    sae: &Sae,
    xc_BD: &[f32],
    mut each: impl FnMut(usize, &mut [f32]) -> bool,
) {
    let (d, s) = (sae.d_vit(), sae.d_sae());
    let mut pre = Vec::new();
    for (i, xc) in xc_BD.chunks(ROWS * d).enumerate() {
        pre.resize(xc.len() / d * s, 0.0);
        pre_activations_into(sae, xc, &mut pre);
        if !each(i * ROWS, &mut pre) {
            return;
        }
    }
}

impl Sae {
    /// The inference-mode latents of a batch ([`Sae::encode`]) as pairs,
    /// encoded `ROWS` examples at a time: the same values, no `[B, S]` buffer.
    pub fn encode_sparse(&self, x_BD: &[f32]) -> SparseCodes {
        let s = self.d_sae();
        let xc_BD = centred(self, x_BD);
        let mut codes = SparseCodes::empty(s);
        pre_activation_blocks(self, &xc_BD, |_, pre| {
            self.cfg.activation.apply_eval(pre, s, self.threshold);
            codes.push_rows(pre);
            true
        });
        codes
    }
}

/// Training-mode latents of a batch block by block, with `on_pre` seeing
/// each block's pre-activations first (to gather what AuxK needs), and
/// BatchTopK's smallest positive survivor. ReLU and TopK stop early when
/// the first block is denser than `give_up_above` (the dense step will be
/// cheaper), returning that block's latents (`[ROWS, S]`) for the dense
/// step to start from; BatchTopK's density is `k / S` from the start, so
/// the caller decides before encoding.
pub(crate) fn encode_train_blocks(
    sae: &Sae,
    xc_BD: &[f32],
    give_up_above: Option<f64>,
    mut on_pre: impl FnMut(&[f32]),
) -> Result<(SparseCodes, Option<f32>), Vec<f32>> {
    let s = sae.d_sae();
    let b = xc_BD.len() / sae.d_vit();
    if let Activation::BatchTopK { top_k, .. } = sae.cfg.activation {
        let mut cut = crate::batch_cut::BatchCut::new(top_k * b, s);
        pre_activation_blocks(sae, xc_BD, |r0, pre| {
            on_pre(pre);
            cut.push(r0, pre);
            true
        });
        return Ok(cut.finish(b));
    }
    let mut codes = SparseCodes::empty(s);
    let mut first = None;
    pre_activation_blocks(sae, xc_BD, |r0, pre| {
        on_pre(pre);
        sae.cfg.activation.apply_train(pre, s);
        // Only the first block decides, so only it is counted.
        let dense = r0 == 0 && give_up_above.is_some_and(|l| crate::density::density(pre) > l);
        if dense {
            first = Some(pre.to_vec());
            return false;
        }
        codes.push_rows(pre);
        true
    });
    first.map_or(Ok((codes, None)), Err)
}
