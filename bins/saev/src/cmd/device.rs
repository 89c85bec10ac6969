//! `--device cpu|cuda` and running generic code on the chosen burn backend.

/// The compute device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Device {
    Cpu,
    Cuda,
}

impl Device {
    /// The device to use: CUDA falls back to the CPU (with a warning) when
    /// this build has no CUDA support, as saev falls back when no GPU is found.
    pub fn available(self) -> Self {
        if self == Device::Cuda && !cfg!(feature = "cuda") {
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
            Device::Cuda => 1024,
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
            $crate::cmd::device::Device::Cuda => {
                type $B = burn::backend::Cuda;
                let $dev = burn::backend::cuda::CudaDevice::default();
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
