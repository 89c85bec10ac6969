//! Print `numpy.random.default_rng(SEED).permutation(N)`, computed in Rust.
//!
//! ```sh
//! cargo run -p saev-rng --example permutation -- 42 10   # [5, 6, 0, 7, 3, 2, 4, 9, 1, 8]
//! ```

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u64>().expect("integer"));
    let seed = args.next().unwrap_or(42);
    let n = args.next().unwrap_or(10) as usize;
    println!("{:?}", saev_rng::Pcg64::from_seed(seed).permutation(n));
}
