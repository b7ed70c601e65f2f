//! The prefix→ASN table: IPv4 /8–/24 with nested more-specifics, IPv6 allocations.

use std::collections::{BTreeSet, HashSet};

use super::Params;
use crate::plan::{self, Plan};
use crate::rng::{Rng, Weighted};

/// The generated prefix→ASN table, sorted and canonical.
pub(super) struct AsnTable {
    /// (address, length, ASN), sorted by (address, length), unique.
    pub v4: Vec<(u32, u8, u32)>,
    /// IPv6 likewise.
    pub v6: Vec<(u128, u8, u32)>,
    /// The ASN pool, most prefixes first.
    asns: Vec<u32>,
    zipf: Weighted,
}

pub(super) fn mask32(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    }
}

fn mask128(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len))
    }
}

/// Expected entries of one fragmented node of length `l` (see `fragment`).
fn expected_fragment(l: u8, q: f64) -> f64 {
    if l >= 24 {
        return 0.9;
    }
    q * 2.0 * expected_fragment(l + 1, q) + (1.0 - q) * 0.92 * 1.3
}

impl AsnTable {
    pub(super) fn generate(p: &Params, plan: &Plan) -> AsnTable {
        let mut rng = Rng::derive(p.seed, "asn-pool");
        // ~75,000 ASes: 16-bit public ones and 4-byte ones, unique, in a random order
        // that doubles as size rank (rank 0 originates the most prefixes).
        let mut seen = HashSet::new();
        let mut asns = Vec::new();
        while asns.len() < 75_000 {
            let asn = if rng.chance(0.6) {
                rng.range(1, 64_495) as u32
            } else {
                rng.range(131_072, 401_308) as u32
            };
            if asn != 23_456 && seen.insert(asn) {
                asns.push(asn);
            }
        }
        let zipf = Weighted::zipf(asns.len(), 1.05);
        let mut t = AsnTable {
            v4: Vec::new(),
            v6: Vec::new(),
            asns,
            zipf,
        };
        let want_v6 = p.asn_prefixes / 10;
        let want_v4 = p.asn_prefixes - want_v6;
        t.generate_v4(p, plan, want_v4);
        t.generate_v6(p, want_v6);
        t
    }

    pub(super) fn random_asn(&self, rng: &mut Rng) -> u32 {
        self.asns[self.zipf.sample(rng)]
    }

    fn generate_v4(&mut self, p: &Params, plan: &Plan, want: usize) {
        let mut rng = Rng::derive(p.seed, "asn-v4");
        let mut out: Vec<(u32, u8, u32)> = Vec::with_capacity(want + 64);
        // Legacy aggregates: a few whole /8s and some /9–/12s, with everything
        // generated below nested inside them.
        let eights: Vec<u32> = (1u32..224)
            .filter(|&a| plan::is_public_16((a << 8) as u16 | 1))
            .collect();
        let mut agg = BTreeSet::new();
        for _ in 0..12 {
            agg.insert((*rng.pick(&eights) << 24, 8u8));
        }
        for _ in 0..48 {
            let len = rng.range(9, 12) as u8;
            let a = (*rng.pick(&eights) << 24) | (rng.next_u64() as u32 & 0x00ff_ffff);
            agg.insert((a & mask32(len), len));
        }
        for (a, l) in agg {
            if out.len() < want {
                out.push((a, l, self.random_asn(&mut rng)));
            }
        }
        // The public /16s in random order; each is unannounced, announced whole
        // (with nested more-specifics), or fragmented into /17–/24s.
        let mut sixteens: Vec<u16> = plan.public_sixteens().map(|(i, _)| i).collect();
        rng.shuffle(&mut sixteens);
        // Fragmentation probability tuned so the expected total is ~3 % above `want`.
        let per16 = want as f64 * 1.03 / sixteens.len() as f64;
        let target_fragment = ((per16 - 0.2 * 6.0) / 0.7).max(0.0);
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        for _ in 0..50 {
            let mid = (lo + hi) / 2.0;
            if expected_fragment(16, mid) < target_fragment {
                lo = mid
            } else {
                hi = mid
            }
        }
        let q = (lo + hi) / 2.0;
        let mut block: Vec<(u32, u8, u32)> = Vec::new();
        for &i in &sixteens {
            if out.len() >= want {
                break;
            }
            block.clear();
            let base = u32::from(i) << 16;
            let owner = self.random_asn(&mut rng);
            let mode = rng.f64();
            if mode < 0.10 {
                continue;
            } else if mode < 0.30 {
                block.push((base, 16, owner));
                let nested = rng.below(11) as usize;
                for _ in 0..nested {
                    let len = rng.range(19, 24) as u8;
                    let a = (base | (rng.next_u64() as u32 & 0xffff)) & mask32(len);
                    let asn = if rng.chance(0.6) {
                        owner
                    } else {
                        self.random_asn(&mut rng)
                    };
                    block.push((a, len, asn));
                }
            } else {
                self.fragment(&mut rng, base, 16, owner, q, &mut block);
            }
            block.sort_unstable_by_key(|e| (e.0, e.1));
            block.dedup_by_key(|e| (e.0, e.1));
            let room = want - out.len();
            out.extend(block.iter().take(room));
        }
        // Still short (tiny tables or an unlucky draw): nest /24s under what exists.
        let mut keys: HashSet<(u32, u8)> = out.iter().map(|e| (e.0, e.1)).collect();
        let mut guard = 0usize;
        while out.len() < want && guard < want * 20 + 1000 {
            guard += 1;
            let &(a, l, _) = rng.pick(&out);
            if l >= 24 {
                continue;
            }
            let len = rng.range(u64::from(l) + 1, 24) as u8;
            let sub = (a | (rng.next_u64() as u32 & !mask32(l))) & mask32(len);
            if keys.insert((sub, len)) {
                out.push((sub, len, self.random_asn(&mut rng)));
            }
        }
        out.sort_unstable_by_key(|e| (e.0, e.1));
        out.dedup_by_key(|e| (e.0, e.1));
        self.v4 = out;
    }

    /// A /`len` node: split into halves with probability `q`, else announced (92 %),
    /// sometimes with nested /24 more-specifics of other origins.
    fn fragment(
        &self,
        rng: &mut Rng,
        base: u32,
        len: u8,
        owner: u32,
        q: f64,
        out: &mut Vec<(u32, u8, u32)>,
    ) {
        if len >= 24 {
            if rng.chance(0.9) {
                out.push((
                    base,
                    24,
                    if rng.chance(0.7) {
                        owner
                    } else {
                        self.random_asn(rng)
                    },
                ));
            }
            return;
        }
        if rng.chance(q) {
            let half = 1u32 << (32 - u32::from(len) - 1);
            self.fragment(rng, base, len + 1, owner, q, out);
            self.fragment(rng, base | half, len + 1, owner, q, out);
        } else if rng.chance(0.92) {
            let asn = if rng.chance(0.75) {
                owner
            } else {
                self.random_asn(rng)
            };
            out.push((base, len, asn));
            if rng.chance(0.15) {
                for _ in 0..rng.range(1, 3) {
                    let sub = (base | (rng.next_u64() as u32 & !mask32(len))) & mask32(24);
                    if sub != base || len != 24 {
                        out.push((sub, 24, self.random_asn(rng)));
                    }
                }
            }
        }
    }

    fn generate_v6(&mut self, p: &Params, want: usize) {
        let mut rng = Rng::derive(p.seed, "asn-v6");
        // Regions as in the plan (first 12 bits), weighted by size of the real registries.
        let regions: [(u128, u64); 5] = [
            (0x2400, 30),
            (0x2600, 25),
            (0x2800, 6),
            (0x2a00, 35),
            (0x2c00, 4),
        ];
        let w = Weighted::new(regions.iter().map(|r| r.1));
        let mut set: HashSet<(u128, u8)> = HashSet::with_capacity(want * 2);
        let mut out = Vec::with_capacity(want);
        while out.len() < want {
            let region = regions[w.sample(&mut rng)].0 << 112;
            let owner = self.random_asn(&mut rng);
            let r = rng.f64();
            // An allocation: an ISP /32 (or /29) with nested /40–/48s, or PI /48s.
            let (alloc_len, nested) = if r < 0.55 {
                (32u8, rng.below(6))
            } else if r < 0.65 {
                (29u8, rng.below(4))
            } else {
                (48u8, 0)
            };
            let random =
                (u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64())) & !mask128(12);
            let a = (region | random) & mask128(alloc_len);
            if set.insert((a, alloc_len)) {
                out.push((a, alloc_len, owner));
            }
            for _ in 0..nested {
                if out.len() >= want {
                    break;
                }
                let len = *rng.pick(&[36u8, 40, 44, 48, 48, 48]);
                let sub =
                    (a | ((u128::from(rng.next_u64()) << 64) & !mask128(alloc_len))) & mask128(len);
                let asn = if rng.chance(0.5) {
                    owner
                } else {
                    self.random_asn(&mut rng)
                };
                if set.insert((sub, len)) {
                    out.push((sub, len, asn));
                }
            }
        }
        out.truncate(want);
        out.sort_unstable_by_key(|e| (e.0, e.1));
        self.v6 = out;
    }
}
