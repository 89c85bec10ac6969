//! `--device cpu|cuda|cuda:I` and running generic code on the chosen burn backend.

/// The compute device: the CPU, or CUDA GPU `I` (`cuda` is `cuda:0`; parts
/// started by hand on one machine take one GPU each, `--device cuda:I`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Cpu,
    Cuda(usize),
}

impl std::str::FromStr for Device {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?}: use cpu, cuda or cuda:I (a GPU index)");
        match s {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => {
                let i = s.strip_prefix("cuda:").ok_or_else(bad)?;
                i.parse().map(Device::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl std::fmt::Display for Device {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl Device {
    pub fn is_cuda(self) -> bool {
        matches!(self, Device::Cuda(_))
    }

    /// The GPU index (0 on the CPU).
    pub fn index(self) -> usize {
        match self {
            Device::Cuda(i) => i,
            Device::Cpu => 0,
        }
    }

    /// The device to use: CUDA falls back to the CPU (with a warning) when
    /// this build has no CUDA support, as saev falls back when no GPU is found.
    pub fn available(self) -> Self {
        if self.is_cuda() && !cfg!(feature = "cuda") {
            tracing::warn!(
                "this saev was built without CUDA (cargo build --features cuda); using the CPU"
            );
            return Device::Cpu;
        }
        self
    }

    pub fn default_vit_batch_size(self) -> usize {
        match self {
            Device::Cpu => 32,
            Device::Cuda(_) => 1024,
        }
    }
}

/// Run `$body` with the type `$B` bound to the
/// backend for `$device`: `Flex` on the CPU, `Cuda` with the `cuda` feature.
#[macro_export]
macro_rules! with_backend {
    ($device:expr, $B:ident, |$dev:ident| $body:expr) => {{
        match $device {
            #[cfg(feature = "cuda")]
            $crate::cmd::device::Device::Cuda(index) => {
                type $B = burn::backend::Cuda;
                // Minimal kernel tuning, caches on disk: a fast first batch.
                saev_sae::gpu::runtime::init();
                let $dev = burn::backend::cuda::CudaDevice { index };
                $body
            }
            _ => {
                type $B = burn::backend::Flex;
                let $dev = burn::backend::flex::FlexDevice;
                $body
            }
        }
    }};
}
