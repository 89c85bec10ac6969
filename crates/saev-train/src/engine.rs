//! Where a run's steps execute: the `gemm` CPU step, or burn on CUDA.

use std::borrow::Cow;

use saev_sae::{Losses, NonFiniteLoss, Trainer};

pub(crate) enum Engine {
    Cpu(Box<Trainer>),
    #[cfg(feature = "cuda")]
    Cuda(Box<saev_sae::BurnTrainer<burn::backend::Cuda>>),
}

impl Engine {
    /// On CUDA when asked and built with it, else on the CPU.
    pub(crate) fn new(t: Trainer, cuda: bool, index: usize) -> Self {
        #[cfg(feature = "cuda")]
        if cuda {
            let device = burn::backend::cuda::CudaDevice { index };
            return Engine::Cuda(Box::new(saev_sae::BurnTrainer::from_trainer(&t, &device)));
        }
        let _ = (cuda, index);
        Engine::Cpu(Box::new(t))
    }

    pub(crate) fn step(&mut self, x_BD: &[f32]) -> Result<Losses, NonFiniteLoss> {
        match self {
            Engine::Cpu(t) => t.step(x_BD),
            #[cfg(feature = "cuda")]
            Engine::Cuda(t) => t.step(x_BD),
        }
    }

    /// The learning rate and sparsity coefficient of the next step.
    pub(crate) fn schedule(&self) -> (f32, f32) {
        match self {
            Engine::Cpu(t) => t.schedule(),
            #[cfg(feature = "cuda")]
            Engine::Cuda(t) => t.schedule(),
        }
    }

    /// The training state on the host (a download for CUDA runs).
    pub(crate) fn host(&self) -> Cow<'_, Trainer> {
        match self {
            Engine::Cpu(t) => Cow::Borrowed(t),
            #[cfg(feature = "cuda")]
            Engine::Cuda(t) => Cow::Owned(t.to_trainer()),
        }
    }
}
