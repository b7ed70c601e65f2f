//! A small deterministic random number generator (SplitMix64) and helpers.
//!
//! The dataset must be byte-identical for the same seed on every machine and
//! every Rust version, so no external RNG (whose streams may change between
//! releases) is used.

/// SplitMix64: one `u64` of state, good enough for synthetic data.
#[derive(Clone, Debug)]
pub struct Rng(u64);

/// The SplitMix64 finaliser: a stateless 64-bit mixing function.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// A generator seeded with `seed`.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// An independent stream for one purpose: `seed` mixed with `label`, so
    /// adding a draw in one part of the generator does not shift every other part.
    pub fn derive(seed: u64, label: &str) -> Rng {
        let mut h = mix64(seed ^ 0x6d69_7272_6f72_666c);
        for b in label.bytes() {
            h = mix64(h ^ u64::from(b));
        }
        Rng(h)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0), multiply-high (no modulo bias worth caring about).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }

    /// `n` random bytes as lower-case hex.
    pub fn hex(&mut self, bytes: usize) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(bytes * 2);
        let mut word = 0u64;
        for i in 0..bytes {
            if i % 8 == 0 {
                word = self.next_u64();
            }
            let b = (word >> ((i % 8) * 8)) as u8;
            out.push(DIGITS[usize::from(b >> 4)] as char);
            out.push(DIGITS[usize::from(b & 15)] as char);
        }
        out
    }
}

/// A discrete distribution over `0..weights.len()`, sampled by binary search.
#[derive(Clone, Debug)]
pub struct Weighted {
    cdf: Vec<u64>,
}

impl Weighted {
    /// From integer weights; at least one must be positive.
    pub fn new(weights: impl IntoIterator<Item = u64>) -> Weighted {
        let mut total = 0u64;
        let cdf = weights
            .into_iter()
            .map(|w| {
                total += w;
                total
            })
            .collect::<Vec<_>>();
        assert!(total > 0, "a weighted choice needs a positive weight");
        Weighted { cdf }
    }

    /// Zipf-like weights `1 / rank^s` for `n` ranks, scaled to integers.
    pub fn zipf(n: usize, s: f64) -> Weighted {
        Weighted::new((1..=n).map(|r| ((1e9 / (r as f64).powf(s)) as u64).max(1)))
    }

    /// Draws one index.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let total = *self.cdf.last().expect("non-empty");
        self.index_of(rng.below(total))
    }

    /// The index whose weight interval holds `r` (`r` < total).
    pub fn index_of(&self, r: u64) -> usize {
        self.cdf.partition_point(|&c| c <= r)
    }

    /// Sum of the weights.
    pub fn total(&self) -> u64 {
        *self.cdf.last().expect("non-empty")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_vectors() {
        // edge-protocol.md E56: SplitMix64 from 0.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xe220a8397b1dcdaf);
        assert_eq!(r.next_u64(), 0x6e789e6aa1b965f4);
    }

    #[test]
    fn weighted_respects_zero_weights() {
        let w = Weighted::new([0, 5, 0, 5]);
        let mut r = Rng::new(7);
        for _ in 0..1000 {
            let i = w.sample(&mut r);
            assert!(i == 1 || i == 3);
        }
    }
}
