//! CubeCL kernels of the GPU step (CUDA and wgpu): the k-th largest value
//! of each row by radix select, with no sort and no host round trip.
//!
//! Floats map to `u32` keys that order as the floats do (flip the sign bit
//! of a positive, every bit of a negative). Four passes, one per key byte
//! from the top: `radix_count` counts, for every row, the byte values of the
//! keys that still match the row's chosen prefix (one cube per chunk of a
//! row, a shared 256-bin histogram, then atomic adds into the row's global
//! histogram); `radix_pick` walks the row's bins from the top to the one
//! holding the k-th largest key and extends the prefix. After the fourth
//! pass the prefix is the k-th largest key itself. Rows are TopK's examples
//! (one chunk each) or, for BatchTopK, the whole batch as one row split
//! over many cubes.

use burn::tensor::{DType, Shape, Tensor as BurnTensor, TensorPrimitive};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::kernel::matmul::MatmulStrategy;
use burn_cubecl::ops::numeric::{empty_device, full_device_dtype};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use cubecl::prelude::*;

use super::ops::kth_largest_by_sort;

/// Units per cube: one per histogram bin.
const UNITS: u32 = 256;
/// Keys a cube of `radix_count` reads at least.
const MIN_CHUNK: usize = 16 * 1024;
/// Cubes along one grid axis that every backend accepts (wgpu's limit).
const MAX_CUBES: usize = 65_535;

/// A float's order-preserving key.
#[cube]
fn order_key(x: f32) -> u32 {
    let bits = u32::reinterpret(x);
    let negative = (bits >> 31u32) == 1u32;
    select(negative, !bits, bits | 0x8000_0000u32)
}

/// The float of an order-preserving key.
#[cube]
fn from_order_key(key: u32) -> f32 {
    let was_positive = (key >> 31u32) == 1u32;
    f32::reinterpret(select(was_positive, key ^ 0x8000_0000u32, !key))
}

/// Per row with `k <= 256`, a lower bound on its `k`-th largest value: the
/// `k`-th largest of the 256 units' maxima (at least `k` values reach it).
/// Radix passes then count only values at or above it: a handful per row,
/// instead of every value piling onto the same few bins. `-inf` otherwise.
#[cube(launch)]
fn row_floor(x: &Tensor<f32>, floor: &mut Tensor<f32>, k: u32) {
    let mut maxima = SharedMemory::<f32>::new(256usize);
    let row = CUBE_POS;
    let live = row < floor.len();
    let tid = UNIT_POS as usize;
    // -inf by its bits: CUDA C++ has no literal for it.
    let mut m = f32::reinterpret(0xFF80_0000u32);
    if live {
        let base = row * x.stride(0);
        for i in range_stepped(tid, x.shape(1), CUBE_DIM as usize) {
            m = max(m, x[base + i]);
        }
    }
    maxima[tid] = m;
    sync_cube();
    if live {
        let mut above = 0u32;
        let mut at_least = 0u32;
        for j in 0..256usize {
            let other = maxima[j];
            if other > m {
                above += 1u32;
            }
            if other >= m {
                at_least += 1u32;
            }
        }
        // This unit's maximum is the k-th largest of the maxima.
        if above < k && at_least >= k {
            floor[row] = m;
        }
    }
}

/// Per row: prefix 0, `k` keys still to skip, mask 0; histograms cleared.
#[cube(launch)]
fn radix_init(state: &mut Tensor<u32>, hist: &mut Tensor<u32>, k: u32) {
    let i = ABSOLUTE_POS;
    if i < hist.len() {
        hist[i] = 0u32;
    }
    if i * 3 < state.len() {
        state[i * 3] = 0u32;
        state[i * 3 + 1] = k;
        state[i * 3 + 2] = 0u32;
    }
}

/// One cube per (chunk, row): the byte at `shift` of the row's keys that
/// match its prefix so far, counted into `hist[row, 256]`.
#[cube(launch)]
fn radix_count(
    x: &Tensor<f32>,
    floor: &Tensor<f32>,
    state: &Tensor<u32>,
    hist: &Tensor<Atomic<u32>>,
    chunk: u32,
    shift: u32,
) {
    let local = SharedMemory::<Atomic<u32>>::new(256usize);
    let tid = UNIT_POS as usize;
    local[tid].store(0u32);
    sync_cube();
    let row = CUBE_POS_Y as usize;
    let cols = x.shape(1);
    let prefix = state[row * 3];
    let mask = state[row * 3 + 2];
    let start = CUBE_POS_X as usize * chunk as usize;
    let wanted = start + chunk as usize;
    let end = select(wanted < cols, wanted, cols);
    let base = row * x.stride(0);
    let low = floor[row];
    for i in range_stepped(start + tid, end, CUBE_DIM as usize) {
        let v = x[base + i];
        let key = order_key(v);
        if v >= low && (key & mask) == prefix {
            local[((key >> shift) & 0xFFu32) as usize].fetch_add(1u32);
        }
    }
    sync_cube();
    let count = local[tid].load();
    if count > 0u32 {
        hist[row * 256 + tid].fetch_add(count);
    }
}

/// One cube per row: the byte bin holding the row's k-th largest key,
/// appended to its prefix; the row's bins cleared for the next pass. The
/// last pass (`shift` 0) writes the value itself to `out`.
#[cube(launch)]
fn radix_pick(state: &mut Tensor<u32>, hist: &mut Tensor<u32>, out: &mut Tensor<f32>, shift: u32) {
    let mut counts = SharedMemory::<u32>::new(256usize);
    let row = CUBE_POS;
    let tid = UNIT_POS as usize;
    let live = row < out.len();
    if live {
        counts[tid] = hist[row * 256 + tid];
        hist[row * 256 + tid] = 0u32;
    }
    sync_cube();
    if live && UNIT_POS == 0 {
        let mut rem = state[row * 3 + 1];
        let mut chosen = 0u32;
        let mut found = false;
        for j in 0..256u32 {
            let bin = 255u32 - j;
            if !found {
                let c = counts[bin as usize];
                if c >= rem {
                    chosen = bin;
                    found = true;
                } else {
                    rem -= c;
                }
            }
        }
        let prefix = state[row * 3] | (chosen << shift);
        state[row * 3] = prefix;
        state[row * 3 + 1] = rem;
        state[row * 3 + 2] = state[row * 3 + 2] | (0xFFu32 << shift);
        if shift == 0u32 {
            out[row] = from_order_key(prefix);
        }
    }
}

/// Each row's `k`-th largest value (`1 <= k <= C`), by radix select.
pub(crate) fn kth_largest<R, F, I, BT>(
    x_RC: BurnTensor<CubeBackend<R, F, I, BT>, 2>,
    k: usize,
) -> BurnTensor<CubeBackend<R, F, I, BT>, 1>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    let [rows, cols] = x_RC.dims();
    assert!((1..=cols).contains(&k), "k = {k} outside 1..={cols}");
    let x: CubeTensor<R> = x_RC.clone().into_primitive().tensor();
    if x.dtype != DType::F32 || rows > MAX_CUBES || k > u32::MAX as usize {
        return kth_largest_by_sort(x_RC, k);
    }
    let x = into_contiguous(x);
    let client = x.client.clone();
    let device = x.device.clone();
    let state = empty_device::<R, u32>(client.clone(), device.clone(), Shape::new([rows * 3]));
    let hist = empty_device::<R, u32>(client.clone(), device.clone(), Shape::new([rows * 256]));
    let out = empty_device::<R, f32>(client.clone(), device.clone(), Shape::new([rows]));
    let cube = CubeDim::new_1d(UNITS);
    let per_row = |n: usize| cubecl::calculate_cube_count_elemwise(&client, n, cube);

    // Several units may hold the k-th largest maximum: all write the same.
    let floor = full_device_dtype::<R>(
        client.clone(),
        Shape::new([rows]),
        device.clone(),
        InputScalar::new(f32::NEG_INFINITY, DType::F32),
        DType::F32,
    );
    if k <= UNITS as usize {
        row_floor::launch::<R>(
            &client,
            per_row(rows * UNITS as usize),
            cube,
            x.clone().into_tensor_arg(),
            floor.clone().into_tensor_arg(),
            k as u32,
        );
    }
    radix_init::launch::<R>(
        &client,
        per_row(rows * 256),
        cube,
        state.clone().into_tensor_arg(),
        hist.clone().into_tensor_arg(),
        k as u32,
    );
    let chunk = MIN_CHUNK.max(cols.div_ceil(MAX_CUBES));
    let grid = CubeCount::Static(cols.div_ceil(chunk) as u32, rows as u32, 1);
    for shift in [24u32, 16, 8, 0] {
        radix_count::launch::<R>(
            &client,
            grid.clone(),
            cube,
            x.clone().into_tensor_arg(),
            floor.clone().into_tensor_arg(),
            state.clone().into_tensor_arg(),
            hist.clone().into_tensor_arg(),
            chunk as u32,
            shift,
        );
        radix_pick::launch::<R>(
            &client,
            per_row(rows * UNITS as usize),
            cube,
            state.clone().into_tensor_arg(),
            hist.clone().into_tensor_arg(),
            out.clone().into_tensor_arg(),
            shift,
        );
    }
    BurnTensor::from_primitive(TensorPrimitive::Float(out))
}

/// `a b`: burn's matmul (tuned per shape, the result cached on disk), or
/// with `SAEV_MATMUL=untuned` CubeCL's default kernel without tuning: a
/// faster first step on a machine with an empty cache, slower steps after
/// (on an H200, 0.70 against 1.19 steps/s for the seed's 24-SAE group).
pub(crate) fn matmul<R, F, I, BT>(
    a: BurnTensor<CubeBackend<R, F, I, BT>, 2>,
    b: BurnTensor<CubeBackend<R, F, I, BT>, 2>,
) -> BurnTensor<CubeBackend<R, F, I, BT>, 2>
where
    R: CubeRuntime,
    F: FloatElement,
    I: IntElement,
    BT: BoolElement,
{
    if std::env::var("SAEV_MATMUL").as_deref() != Ok("untuned") {
        return a.matmul(b);
    }
    let lhs: CubeTensor<R> = a.clone().into_primitive().tensor();
    let rhs: CubeTensor<R> = b.clone().into_primitive().tensor();
    let dtype = lhs.dtype;
    match burn_cubecl::kernel::matmul::matmul(lhs, rhs, None, MatmulStrategy::Cube, dtype) {
        Ok(out) => BurnTensor::from_primitive(TensorPrimitive::Float(out)),
        Err(_) => a.matmul(b),
    }
}
