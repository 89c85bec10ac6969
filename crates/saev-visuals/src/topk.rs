//! Per-latent top-k bookkeeping: the `k` images with the largest ranking
//! value for every latent, each with an optional payload (the image's patch
//! values of that latent, for heatmaps).
//!
//! Images arrive in increasing index order, so an image enters a full list
//! only when strictly larger than its last entry: ties keep the lower image
//! index, and the result equals a stable sort of all images by value,
//! descending, cut at `k`. Work is split over latents (rayon); after the
//! first batches nearly every value falls below its latent's cut and costs
//! one comparison.

use rayon::prelude::*;

/// One latent's list, sorted by value descending (ties: lower index first).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Entries {
    pub values: Vec<f32>,
    pub images: Vec<i64>,
    /// `values.len() * payload_len` floats.
    pub payload: Vec<f32>,
}

/// Top-k lists of every latent.
#[derive(Clone, Debug)]
pub struct TopK {
    pub k: usize,
    /// Floats stored with each entry (patches per image, or 0).
    pub payload_len: usize,
    pub latents: Vec<Entries>,
}

/// Latents handled together by one rayon task.
const CHUNK: usize = 64;

impl TopK {
    pub fn new(d_sae: usize, k: usize, payload_len: usize) -> Self {
        Self {
            k,
            payload_len,
            latents: vec![Entries::default(); d_sae],
        }
    }

    /// Offer a batch of images: `rank_MS[m * S + s]` ranks image `images[m]`
    /// for latent `s`; `payload(m, s, out)` fills an entry's payload.
    pub fn update(
        &mut self,
        rank_MS: &[f32],
        images: &[i64],
        payload: impl Fn(usize, usize, &mut [f32]) + Sync,
    ) {
        let s_total = self.latents.len();
        let (k, p) = (self.k, self.payload_len);
        assert_eq!(rank_MS.len(), images.len() * s_total, "rank shape");
        self.latents
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(c, chunk)| {
                let s0 = c * CHUNK;
                let mut cut: Vec<f32> = chunk.iter().map(|e| cut_of(e, k)).collect();
                let mut buf = vec![0.0f32; p];
                for (m, &img) in images.iter().enumerate() {
                    let row = &rank_MS[m * s_total + s0..m * s_total + s0 + chunk.len()];
                    for (j, &v) in row.iter().enumerate() {
                        if v > cut[j] {
                            payload(m, s0 + j, &mut buf);
                            insert(&mut chunk[j], k, p, v, img, &buf);
                            cut[j] = cut_of(&chunk[j], k);
                        }
                    }
                }
            });
    }
}

/// Values must beat this to enter (everything but NaN while not full).
fn cut_of(e: &Entries, k: usize) -> f32 {
    if e.values.len() < k {
        f32::NEG_INFINITY
    } else {
        *e.values.last().expect("k > 0")
    }
}

fn insert(e: &mut Entries, k: usize, p: usize, v: f32, img: i64, payload: &[f32]) {
    // After every entry >= v: equal values keep their (lower) indices first.
    let at = e.values.partition_point(|&x| x >= v);
    e.values.insert(at, v);
    e.images.insert(at, img);
    if p > 0 {
        e.payload.splice(at * p..at * p, payload.iter().copied());
    }
    if e.values.len() > k {
        e.values.truncate(k);
        e.images.truncate(k);
        e.payload.truncate(k * p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_a_stable_sort_with_ties_to_the_lower_index() {
        let (s, n, k) = (3, 50, 4);
        let mut rng = saev_rng::Pcg64::from_seed(1);
        // Few distinct values, so ties are common.
        let rank: Vec<f32> = (0..n * s).map(|_| rng.interval(5) as f32).collect();
        let mut top = TopK::new(s, k, 1);
        for start in (0..n).step_by(7) {
            let end = (start + 7).min(n);
            let imgs: Vec<i64> = (start as i64..end as i64).collect();
            top.update(&rank[start * s..end * s], &imgs, |m, s, out| {
                out[0] = (imgs[m] * 10 + s as i64) as f32
            });
        }
        for lat in 0..s {
            let mut all: Vec<(f32, i64)> = (0..n).map(|i| (rank[i * s + lat], i as i64)).collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let e = &top.latents[lat];
            let want: Vec<i64> = all[..k].iter().map(|x| x.1).collect();
            assert_eq!(e.images, want, "latent {lat}");
            let payload: Vec<f32> = want.iter().map(|&i| (i * 10 + lat as i64) as f32).collect();
            assert_eq!(e.payload, payload);
        }
    }
}
