//! Where a run's steps execute: the `gemm` CPU step, or the burn step on CUDA.

use std::borrow::Cow;

use std::cell::RefCell;

use saev_sae::{Losses, NonFiniteLoss, Trainer, Workspace};

#[cfg(feature = "cuda")]
type Gpu = saev_sae::gpu::CudaStep;

pub(crate) enum Engine {
    Cpu {
        trainer: Box<Trainer>,
        last: Losses,
    },
    #[cfg(feature = "cuda")]
    Cuda(Box<saev_sae::BurnTrainer<Gpu>>),
}

/// One batch of a group's step: on the host, uploaded to the GPU at most
/// once for all the group's runs, with the group's CPU step buffers.
pub(crate) struct Batch<'a> {
    pub host_BD: &'a [f32],
    workspace: &'a RefCell<Workspace>,
    #[cfg(feature = "cuda")]
    device: std::cell::OnceCell<burn::tensor::Tensor<Gpu, 2>>,
}

impl<'a> Batch<'a> {
    pub(crate) fn new(host_BD: &'a [f32], workspace: &'a RefCell<Workspace>) -> Self {
        Self {
            host_BD,
            workspace,
            #[cfg(feature = "cuda")]
            device: std::cell::OnceCell::new(),
        }
    }
}

impl Engine {
    /// On the CUDA GPU the options name when asked and built with it, else
    /// on the CPU.
    pub(crate) fn new(t: Trainer, opts: &crate::TrainOptions) -> Self {
        #[cfg(feature = "cuda")]
        if opts.cuda {
            saev_sae::gpu::runtime::init();
            let device = saev_sae::gpu::CudaDevice {
                index: opts.cuda_index,
            };
            let mut gpu = saev_sae::BurnTrainer::from_trainer(&t, &device);
            gpu.precision = opts.precision;
            return Engine::Cuda(Box::new(gpu));
        }
        let _ = opts;
        Engine::Cpu {
            trainer: Box::new(t),
            last: Losses::default(),
        }
    }

    /// One step. On the CPU a non-finite loss is an error at once; on the
    /// GPU it shows at the next [`Engine::losses`] (the SAE froze there).
    pub(crate) fn step(&mut self, batch: &Batch) -> Result<(), NonFiniteLoss> {
        match self {
            Engine::Cpu { trainer, last } => {
                let mut ws = batch.workspace.borrow_mut();
                *last = trainer.step_with(batch.host_BD, &mut ws)?;
                Ok(())
            }
            #[cfg(feature = "cuda")]
            Engine::Cuda(t) => {
                let x = batch.device.get_or_init(|| t.upload_batch(batch.host_BD));
                t.step_on(x);
                Ok(())
            }
        }
    }

    /// The last step's losses (a device read on the GPU).
    pub(crate) fn losses(&self) -> Result<Losses, NonFiniteLoss> {
        match self {
            Engine::Cpu { last, .. } => Ok(*last),
            #[cfg(feature = "cuda")]
            Engine::Cuda(t) => t.losses(),
        }
    }

    /// The learning rate and sparsity coefficient of the next step.
    pub(crate) fn schedule(&self) -> (f32, f32) {
        match self {
            Engine::Cpu { trainer, .. } => trainer.schedule(),
            #[cfg(feature = "cuda")]
            Engine::Cuda(t) => t.schedule(),
        }
    }

    /// The training state on the host (a download for GPU runs).
    pub(crate) fn host(&self) -> Cow<'_, Trainer> {
        match self {
            Engine::Cpu { trainer, .. } => Cow::Borrowed(trainer),
            #[cfg(feature = "cuda")]
            Engine::Cuda(t) => Cow::Owned(t.to_trainer()),
        }
    }
}
