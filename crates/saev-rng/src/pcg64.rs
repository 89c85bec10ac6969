//! NumPy's `PCG64` bit generator (XSL-RR 128/64) and the `Generator` methods
//! saev-rs needs from it.

use crate::SeedSequence;

/// `PCG_DEFAULT_MULTIPLIER_128` from pcg64.h.
const MULTIPLIER: u128 = (2_549_297_995_355_413_924u128 << 64) | 4_865_540_595_714_422_341u128;

/// The generator behind `np.random.default_rng(seed)`.
#[derive(Clone, Debug)]
pub struct Pcg64 {
    state: u128,
    inc: u128,
    /// NumPy keeps the high half of a 64-bit draw for the next 32-bit request.
    spare_u32: Option<u32>,
}

impl Pcg64 {
    /// `np.random.default_rng(seed)`.
    pub fn from_seed(seed: u64) -> Self {
        Self::from_seed_sequence(&SeedSequence::new(u128::from(seed)))
    }

    /// `PCG64(seed_sequence)`: four 64-bit words, the first two the initial
    /// state (high word first), the last two the stream.
    pub fn from_seed_sequence(seq: &SeedSequence) -> Self {
        let words = seq.generate_state_u64(4);
        let init_state = (u128::from(words[0]) << 64) | u128::from(words[1]);
        let init_seq = (u128::from(words[2]) << 64) | u128::from(words[3]);
        let mut rng = Self {
            state: 0,
            inc: (init_seq << 1) | 1,
            spare_u32: None,
        };
        rng.step();
        rng.state = rng.state.wrapping_add(init_state);
        rng.step();
        rng
    }

    /// The raw 128-bit state and increment, as `bit_generator.state` shows them.
    pub fn state(&self) -> (u128, u128) {
        (self.state, self.inc)
    }

    fn step(&mut self) {
        self.state = self.state.wrapping_mul(MULTIPLIER).wrapping_add(self.inc);
    }

    /// One 64-bit output (`random_raw`).
    pub fn next_u64(&mut self) -> u64 {
        self.step();
        let hi = (self.state >> 64) as u64;
        let lo = self.state as u64;
        (hi ^ lo).rotate_right((self.state >> 122) as u32)
    }

    /// One 32-bit output: the low half of a fresh 64-bit draw, then its high half.
    pub fn next_u32(&mut self) -> u32 {
        if let Some(spare) = self.spare_u32.take() {
            return spare;
        }
        let next = self.next_u64();
        self.spare_u32 = Some((next >> 32) as u32);
        next as u32
    }

    /// A uniform integer in `[0, max]` by masked rejection (NumPy's `random_interval`).
    pub fn interval(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        let mask = u64::MAX >> max.leading_zeros();
        if max <= u64::from(u32::MAX) {
            loop {
                let value = u64::from(self.next_u32()) & mask;
                if value <= max {
                    return value;
                }
            }
        }
        loop {
            let value = self.next_u64() & mask;
            if value <= max {
                return value;
            }
        }
    }

    /// `Generator.shuffle` of a 1-d array: Fisher-Yates from the back.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.interval(i as u64) as usize;
            items.swap(i, j);
        }
    }

    /// `Generator.permutation(n)`: a shuffled `arange(n)`.
    pub fn permutation(&mut self, n: usize) -> Vec<u64> {
        let mut items: Vec<u64> = (0..n as u64).collect();
        self.shuffle(&mut items);
        items
    }

    /// The first `k` entries of `permutation(n)`, in the same order, using
    /// 4 bytes per entry while `n` fits in `u32` (saev permutes every patch of
    /// ImageNet, 251 million of them, just to take the first 2^19).
    pub fn permutation_prefix(&mut self, n: usize, k: usize) -> Vec<u64> {
        let k = k.min(n);
        if n <= u32::MAX as usize {
            let mut items: Vec<u32> = (0..n as u32).collect();
            self.shuffle(&mut items);
            items[..k].iter().map(|&i| u64::from(i)).collect()
        } else {
            let mut items = self.permutation(n);
            items.truncate(k);
            items
        }
    }
}
