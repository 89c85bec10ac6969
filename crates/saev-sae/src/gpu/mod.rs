//! The SAE step on a burn device (CUDA, wgpu, or burn's CPU backend in tests).
//!
//! - [`BurnTrainer`]: one SAE with its Adam state on a device; steps queue
//!   work without reading anything back, losses are read when logged.
//! - [`StepKernels`]: the operations the step runs outside burn's tensor
//!   API (the TopK cut), with CubeCL kernels on CUDA and wgpu.
//! - [`runtime`]: CubeCL's kernel-tuning level and on-disk caches, set up
//!   once per process.

pub mod bench;
#[cfg(feature = "cubecl")]
mod cube;
mod health;
#[cfg(feature = "cubecl")]
mod kernels;
mod ops;
mod params;
#[cfg(feature = "cubecl")]
pub mod runtime;
#[cfg(feature = "cubecl")]
mod sparse;
#[cfg(feature = "cubecl")]
mod sparse_kernels;
mod sparse_step;
mod trainer;

pub use ops::{kth_largest_by_sort, Codes, StepKernels};
pub use trainer::{BurnTrainer, Precision};

/// The step's backend on CUDA: burn's CubeCL backend without fusion, so the
/// step's own kernels receive its tensors directly.
#[cfg(feature = "cuda")]
pub type CudaStep = burn_cubecl::CubeBackend<cubecl::cuda::CudaRuntime, f32, i32, u8>;
#[cfg(feature = "cuda")]
pub use cubecl::cuda::CudaDevice;

/// The step's backend on wgpu (Vulkan, Metal, DirectX; lavapipe in CI).
#[cfg(feature = "wgpu")]
pub type WgpuStep = burn_cubecl::CubeBackend<cubecl::wgpu::WgpuRuntime, f32, i32, u32>;
#[cfg(feature = "wgpu")]
pub use cubecl::wgpu::WgpuDevice;
