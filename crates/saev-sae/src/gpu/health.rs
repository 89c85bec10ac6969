//! Losses and divergence kept on the device, read only when asked: a step
//! never waits for the device to tell the host its loss.

use burn::tensor::backend::Backend;
use burn::tensor::{Bool, Tensor};

use super::params::{download, where1};
use crate::sae::Losses;
use crate::step::NonFiniteLoss;

/// The order of a step's loss terms on the device.
pub(crate) const N_TERMS: usize = 5;

/// A step's loss terms `[loss, mse, l1, l0, aux]` as one device tensor.
pub(crate) fn terms<B: Backend>(parts: [Tensor<B, 1>; 4], coeff: f32) -> Tensor<B, 1> {
    let [mse, l1, l0, aux] = parts;
    let loss = mse.clone() + l1.clone() * coeff + aux.clone();
    Tensor::cat(vec![loss, mse, l1, l0, aux], 0)
}

fn losses_of(t: &[f32]) -> Losses {
    Losses {
        loss: t[0],
        mse: t[1],
        l1: t[2],
        l0: t[3],
        aux: t[4],
    }
}

/// The last step's losses and the first step whose loss was not finite.
#[derive(Clone, Debug)]
pub(crate) struct Health<B: Backend> {
    last_5: Tensor<B, 1>,
    /// A step's loss was NaN or infinite: the SAE has not changed since.
    bad_1: Tensor<B, 1, Bool>,
    bad_step_1: Tensor<B, 1>,
    bad_losses_5: Tensor<B, 1>,
}

impl<B: Backend> Health<B> {
    pub fn new(device: &B::Device) -> Self {
        Self {
            last_5: Tensor::zeros([N_TERMS], device),
            bad_1: Tensor::<B, 1>::zeros([1], device).greater_elem(0.0),
            bad_step_1: Tensor::zeros([1], device),
            bad_losses_5: Tensor::zeros([N_TERMS], device),
        }
    }

    /// Record step `step`'s terms; returns a one-element mask, true where the
    /// step's update may be applied (finite loss, no earlier divergence).
    pub fn record(&mut self, terms_5: Tensor<B, 1>, step: u64) -> Tensor<B, 1, Bool> {
        let was_bad = self.bad_1.clone();
        let finite = terms_5.clone().slice(0..1).is_finite();
        let ok = finite.bool_and(was_bad.clone().bool_not());
        let first_bad = ok.clone().bool_not().bool_and(was_bad.clone().bool_not());
        let step_1 = Tensor::full([1], step as f32, &terms_5.device());
        self.bad_step_1 = where1(&first_bad, step_1, self.bad_step_1.clone());
        self.bad_losses_5 = where1(&first_bad, terms_5.clone(), self.bad_losses_5.clone());
        self.bad_1 = was_bad.bool_or(first_bad);
        self.last_5 = terms_5;
        ok
    }

    /// One read from the device: the last step's losses, or the divergence.
    pub fn read(&self) -> Result<Losses, NonFiniteLoss> {
        let all = Tensor::cat(
            vec![
                self.last_5.clone(),
                self.bad_losses_5.clone(),
                self.bad_1.clone().float(),
                self.bad_step_1.clone(),
            ],
            0,
        );
        let v = download(all);
        if v[2 * N_TERMS] > 0.5 {
            return Err(NonFiniteLoss {
                step: v[2 * N_TERMS + 1] as u64,
                losses: losses_of(&v[N_TERMS..]),
            });
        }
        Ok(losses_of(&v))
    }
}
