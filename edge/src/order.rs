//! Reproducible ordering of candidate hosts (edge-protocol.md §9, E54–E56).
//!
//! Every random choice comes from SplitMix64 streams seeded by a hash of (seed, snapshot
//! version, second, client), so two edges with the same snapshot and seed give the same
//! bytes to the same request in the same second, HEAD matches GET, and tests can replay an
//! answer. Integers only: floating point would make edges on different CPUs disagree.

use std::net::IpAddr;

use mirrorfleet_snapshot::net::normalise;
use sha2::{Digest, Sha256};

/// SplitMix64's increment (the golden ratio in 64 bits).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// The SplitMix64 generator of E56: tiny state, good enough statistics for ordering mirrors,
/// and trivially reimplemented by anyone checking an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator with state `seed`.
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    /// The next output.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GAMMA);
        mix(self.state)
    }

    /// A draw in `0..m` (0 when `m` is 0): the high 64 bits of `next_u64() × m`. Not exactly
    /// uniform (bias below m / 2⁶⁴), but one multiplication and the same on every edge.
    pub fn uniform(&mut self, m: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(m)) >> 64) as u64
    }
}

/// SplitMix64's output function of a state.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The per-request base of all streams: the first 8 bytes, big-endian, of
/// SHA-256(`mirrorfleet/order/v1` ‖ key ‖ version u64 BE ‖ t i64 BE ‖ client as 16 bytes).
/// IPv4 (or IPv4-mapped) clients hash as `::ffff:a.b.c.d`.
pub fn order_base(key: &[u8; 32], snapshot_version: u64, t: i64, client: IpAddr) -> u64 {
    let client = match normalise(client) {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    };
    let digest = Sha256::new()
        .chain_update(b"mirrorfleet/order/v1")
        .chain_update(key)
        .chain_update(snapshot_version.to_be_bytes())
        .chain_update(t.to_be_bytes())
        .chain_update(client)
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The default seed K: SHA-256(`mirrorfleet/seed/v1` ‖ installation id as lower-case UUID
/// text), so all edges of one installation agree without configuration (E56).
pub fn default_seed(installation_id_uuid_text: &str) -> [u8; 32] {
    let text = installation_id_uuid_text.to_ascii_lowercase();
    Sha256::new()
        .chain_update(b"mirrorfleet/seed/v1")
        .chain_update(text)
        .finalize()
        .into()
}

/// `selection.seed`: exactly 64 hex digits (either case); `None` otherwise.
pub fn parse_seed(hex_text: &str) -> Option<[u8; 32]> {
    let mut seed = [0u8; 32];
    hex::decode_to_slice(hex_text, &mut seed).ok()?;
    Some(seed)
}

/// A tier's stream number (E56): netblock 0, ASN 1, requested entry j at 2 + j, then the
/// requested continent, country, continent and global after the q requested entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// Netblock groups (one stream, longest prefix first).
    Netblock,
    /// ASN tier.
    Asn,
    /// The j-th `country=` entry (0-based).
    Requested(usize),
    /// Requested-continent tier (E45).
    RequestedContinent,
    /// The client's country (E47).
    Country,
    /// The client's continent (E47).
    Continent,
    /// Global fallback (E48).
    Global,
}

impl Slot {
    /// The slot number when the request has `requested` `country=` entries.
    pub fn index(self, requested: usize) -> u64 {
        let q = requested as u64;
        match self {
            Slot::Netblock => 0,
            Slot::Asn => 1,
            Slot::Requested(j) => 2 + j as u64,
            Slot::RequestedContinent => 2 + q,
            Slot::Country => 3 + q,
            Slot::Continent => 4 + q,
            Slot::Global => 5 + q,
        }
    }
}

/// The streams of one request: slot i is seeded with output i of a master SplitMix64
/// seeded with the base.
///
/// Output i of the master is `mix(base + (i + 1)·γ)`, so any slot is reached in O(1)
/// without running or caching the master: `country=` may name hundreds of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotStreams {
    base: u64,
}

impl SlotStreams {
    /// The streams derived from [`order_base`]'s value.
    pub fn new(base: u64) -> SlotStreams {
        SlotStreams { base }
    }

    /// The seed of slot `slot` (output `slot` of the master stream).
    pub fn seed(&self, slot: u64) -> u64 {
        mix(self
            .base
            .wrapping_add(slot.wrapping_add(1).wrapping_mul(GAMMA)))
    }

    /// A fresh generator for slot `slot`.
    pub fn stream(&self, slot: u64) -> SplitMix64 {
        SplitMix64::new(self.seed(slot))
    }
}

/// E54's Fisher–Yates: for i from len−1 down to 1, j = uniform(i+1), swap i and j.
pub fn shuffle_uniform<T>(rng: &mut SplitMix64, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        // uniform(i + 1) ≤ i, so j is always in bounds.
        let j = rng.uniform(i as u64 + 1) as usize;
        items.swap(i, j);
    }
}

/// Reusable memory for [`order_weighted_with`]: keep one per worker to avoid an allocation
/// per tier.
#[derive(Debug, Clone, Default)]
pub struct WeightedScratch {
    /// Fenwick tree of the remaining weights, 1-based (index 0 unused).
    tree: Vec<u64>,
}

/// [`order_weighted_with`] with fresh scratch space.
pub fn order_weighted(rng: &mut SplitMix64, weights: &[u32], out: &mut Vec<u32>) {
    order_weighted_with(&mut WeightedScratch::default(), rng, weights, out);
}

/// E55's weighted order: successive sampling without replacement, P(next) = w / W.
///
/// `out` is cleared and receives every index of `weights` once, in drawn order. Draws use
/// a Fenwick tree (O(n log n), integer-exact). Zero weights are never drawn; they follow in
/// source order once the positive ones are exhausted (the snapshot guarantees 1..=10,000,
/// but a zero must not panic). At most `u32::MAX` entries are ordered.
pub fn order_weighted_with(
    scratch: &mut WeightedScratch,
    rng: &mut SplitMix64,
    weights: &[u32],
    out: &mut Vec<u32>,
) {
    order_weighted_prefix(scratch, rng, weights, out, usize::MAX);
}

/// The first `limit` entries of [`order_weighted_with`]'s order, drawing no more than that:
/// the order is built one draw at a time, so its prefix does not depend on the rest. Used
/// when only the positions before `max_hosts` can reach the answer (E49).
pub fn order_weighted_prefix(
    scratch: &mut WeightedScratch,
    rng: &mut SplitMix64,
    weights: &[u32],
    out: &mut Vec<u32>,
    limit: usize,
) {
    out.clear();
    let weights = &weights[..weights.len().min(u32::MAX as usize)];
    let n = weights.len();
    out.reserve(n);
    let tree = &mut scratch.tree;
    tree.clear();
    tree.resize(n + 1, 0);
    // Linear build: each node is complete before it is added to its parent.
    for (i, &w) in weights.iter().enumerate() {
        let node = i + 1;
        tree[node] += u64::from(w);
        let parent = node + lowbit(node);
        if parent <= n {
            tree[parent] += tree[node];
        }
    }
    // n < 2³² entries of < 2³² each: the sum fits in u64.
    let mut total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let top = if n == 0 { 0 } else { 1 << n.ilog2() };
    let mut complete = true;

    while total > 0 {
        if out.len() >= limit {
            return;
        }
        let r = rng.uniform(total);
        // Largest pos with prefix(pos) ≤ r; entry pos (0-based) is then the first whose
        // running sum exceeds r, and it has positive remaining weight.
        let (mut pos, mut rest, mut step) = (0usize, r, top);
        while step > 0 {
            let next = pos + step;
            if next <= n && tree[next] <= rest {
                pos = next;
                rest -= tree[next];
            }
            step >>= 1;
        }
        // r < total keeps pos < n; checked anyway so a broken invariant cannot panic.
        let Some(&w) = weights.get(pos) else {
            complete = false;
            break;
        };
        out.push(pos as u32);
        let w = u64::from(w);
        total -= w;
        let mut node = pos + 1;
        while node <= n {
            tree[node] -= w;
            node += lowbit(node);
        }
    }

    if complete {
        // W = 0: what is left is exactly the zero weights (a zero is never drawn).
        out.extend((0..n as u32).filter(|&i| weights[i as usize] == 0));
        out.truncate(limit);
    } else {
        // Unreachable by construction; keep "every index once" anyway.
        let mut seen = vec![false; n];
        for &i in out.iter() {
            seen[i as usize] = true;
        }
        out.extend((0..n as u32).filter(|&i| !seen[i as usize]));
    }
}

fn lowbit(i: usize) -> usize {
    i & i.wrapping_neg()
}

#[cfg(test)]
mod tests {
    #[test]
    fn prefix_is_the_start_of_the_full_order() {
        let weights: Vec<u32> = (1..=200).map(|i| (i * 37 % 1000) + 1).collect();
        let (mut full, mut part) = (Vec::new(), Vec::new());
        let mut scratch = WeightedScratch::default();
        order_weighted_with(&mut scratch, &mut SplitMix64::new(7), &weights, &mut full);
        order_weighted_prefix(
            &mut scratch,
            &mut SplitMix64::new(7),
            &weights,
            &mut part,
            100,
        );
        assert_eq!(part, full[..100]);
    }

    use super::*;

    const T: i64 = 1_795_600_803;

    fn vector_streams() -> SlotStreams {
        let client = IpAddr::from([198, 51, 100, 7]);
        SlotStreams::new(order_base(&[0; 32], 1204, T, client))
    }

    #[test]
    fn e56_vectors() {
        let mut rng = SplitMix64::new(0);
        let outputs: Vec<String> = (0..3).map(|_| format!("{:016x}", rng.next_u64())).collect();
        assert_eq!(
            outputs,
            ["e220a8397b1dcdaf", "6e789e6aa1b965f4", "06c45d188009454f"]
        );

        let client = IpAddr::from([198, 51, 100, 7]);
        let base = order_base(&[0; 32], 1204, T, client);
        assert_eq!(format!("{base:016x}"), "f75bb1575cca36cc");
        // The mapped form hashes as the IPv4 address.
        let mapped: IpAddr = "::ffff:198.51.100.7".parse().unwrap_or(client);
        assert_eq!(order_base(&[0; 32], 1204, T, mapped), base);

        let streams = SlotStreams::new(base);
        assert_eq!(format!("{:016x}", streams.seed(0)), "628073dcbe1f8f41");
        assert_eq!(format!("{:016x}", streams.seed(3)), "fa10d73502310527");
    }

    #[test]
    fn e56_slots_match_the_master_stream() {
        let streams = vector_streams();
        let mut master = SplitMix64::new(streams.base);
        for slot in 0..700 {
            assert_eq!(streams.seed(slot), master.next_u64(), "slot {slot}");
        }
        assert_eq!(Slot::Netblock.index(2), 0);
        assert_eq!(Slot::Asn.index(2), 1);
        assert_eq!(Slot::Requested(1).index(2), 3);
        assert_eq!(Slot::RequestedContinent.index(2), 4);
        assert_eq!(Slot::Global.index(2), 7);
        assert_eq!(Slot::Country.index(0), 3);
    }

    #[test]
    fn e56_seed() {
        let id = "0f8e2c1a-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
        let want = "6b48f5384041a3de3ec8b8b69b66e5e3bd0fd302a2553d4936bad93cc6c78ac3";
        assert_eq!(hex::encode(default_seed(id)), want);
        assert_eq!(default_seed(&id.to_ascii_uppercase()), default_seed(id));
        assert_eq!(parse_seed(want), Some(default_seed(id)));
        assert_eq!(
            parse_seed(&want.to_ascii_uppercase()),
            Some(default_seed(id))
        );
        assert_eq!(parse_seed(&want[1..]), None);
        assert_eq!(parse_seed(&format!("{want}00")), None);
        assert_eq!(parse_seed(&want.replace('6', "g")), None);
    }

    #[test]
    fn uniform_bounds() {
        let mut rng = SplitMix64::new(7);
        assert_eq!(rng.uniform(0), 0);
        assert_eq!(rng.uniform(1), 0);
        for m in [2, 3, 10, u64::MAX] {
            assert!(rng.uniform(m) < m);
        }
    }

    #[test]
    fn e54_vector() {
        let mut hosts = [5, 6, 7];
        shuffle_uniform(&mut vector_streams().stream(0), &mut hosts);
        assert_eq!(hosts, [6, 7, 5]);
        let mut none: [u8; 0] = [];
        shuffle_uniform(&mut SplitMix64::new(1), &mut none);
        let mut one = [9];
        shuffle_uniform(&mut SplitMix64::new(1), &mut one);
        assert_eq!(one, [9]);
    }

    #[test]
    fn e55_vector() {
        let hosts = [1, 2, 3, 4];
        let mut order = Vec::new();
        order_weighted(
            &mut vector_streams().stream(3),
            &[2000, 1000, 300, 100],
            &mut order,
        );
        let placed: Vec<i32> = order.iter().map(|&i| hosts[i as usize]).collect();
        assert_eq!(placed, [3, 1, 2, 4]);
    }

    #[test]
    fn e55_distribution_of_first_draws() {
        let weights = [2000, 1000, 300, 100];
        let mut rng = SplitMix64::new(0x5eed);
        let (mut scratch, mut out, mut firsts) =
            (WeightedScratch::default(), Vec::new(), [0u32; 4]);
        let draws = 100_000;
        for _ in 0..draws {
            order_weighted_with(&mut scratch, &mut rng, &weights, &mut out);
            firsts[out[0] as usize] += 1;
        }
        for (count, want) in firsts.iter().zip([0.588, 0.294, 0.088, 0.029]) {
            let share = f64::from(*count) / f64::from(draws);
            assert!((share - want).abs() <= 0.01, "share {share}, want {want}");
        }
    }

    fn assert_permutation(order: &[u32], n: usize) {
        let mut seen = vec![false; n];
        for &i in order {
            assert!(!seen[i as usize], "{i} twice");
            seen[i as usize] = true;
        }
        assert_eq!(order.len(), n);
    }

    #[test]
    fn e55_large_tiers() {
        let mut rng = SplitMix64::new(42);
        let mut out = Vec::new();
        let ones = vec![1u32; 10_000];
        order_weighted(&mut rng, &ones, &mut out);
        assert_permutation(&out, ones.len());

        let mut skewed = vec![1u32; 10_000];
        skewed[1234] = 10_000;
        order_weighted(&mut rng, &skewed, &mut out);
        assert_permutation(&out, skewed.len());
    }

    #[test]
    fn e55_zero_weights_never_panic() {
        let mut rng = SplitMix64::new(3);
        let mut out = vec![99];
        order_weighted(&mut rng, &[], &mut out);
        assert!(out.is_empty());
        order_weighted(&mut rng, &[0, 0, 0], &mut out);
        assert_eq!(out, [0, 1, 2]);
        for _ in 0..100 {
            order_weighted(&mut rng, &[0, 5, 0, 3, 0], &mut out);
            assert_permutation(&out, 5);
            assert_eq!(out[2..], [0, 2, 4]);
        }
        order_weighted(&mut rng, &[u32::MAX; 5], &mut out);
        assert_permutation(&out, 5);
    }
}
