//! NumPy-compatible random numbers: `np.random.default_rng(seed)`.
//!
//! saev picks examples with `np.random.default_rng(seed).permutation(n)` (for
//! example the 2^19 activations it uses to estimate the dataset mean). To pick
//! the *same* examples, and so get the same normalization to the digit, this
//! crate ports the three pieces NumPy chains together:
//!
//! 1. [`SeedSequence`]: NumPy's entropy mixer (after Melissa O'Neill's
//!    `seed_seq`), which turns an integer seed into 128-bit state words;
//! 2. [`Pcg64`]: the PCG XSL-RR 128/64 generator behind `default_rng`,
//!    including NumPy's habit of splitting one 64-bit draw into two 32-bit ones;
//! 3. [`Pcg64::permutation`]: `Generator.permutation(n)`, a Fisher-Yates shuffle
//!    of `arange(n)` driven by NumPy's masked-rejection `random_interval`.
//!
//! The test suite checks all three against values NumPy printed.
//!
//! ```
//! let mut rng = saev_rng::Pcg64::from_seed(42);
//! let perm = rng.permutation(10);
//! assert_eq!(perm, vec![5, 6, 0, 7, 3, 2, 4, 9, 1, 8]);
//! ```

mod pcg64;
mod seed_sequence;

pub use pcg64::Pcg64;
pub use seed_sequence::SeedSequence;
