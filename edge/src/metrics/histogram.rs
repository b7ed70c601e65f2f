//! A lock-free histogram for `request_duration_seconds` (see the module doc of `metrics`).

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;

use super::Label1;
use super::labels::*;

/// A lock-free histogram: per-bucket `AtomicU64` counts and the sum as `f64`
/// bits. `_count` is the sum of the buckets read at scrape time, so it always
/// equals the `+Inf` bucket.
#[derive(Debug)]
pub struct AtomicHistogram {
    buckets: [AtomicU64; N_BUCKETS],
    sum_bits: AtomicU64,
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        AtomicHistogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }
}

impl AtomicHistogram {
    /// Records one value. NaN and negative values count as 0; `+inf` lands in
    /// the `+Inf` bucket without touching the sum.
    pub fn observe(&self, v: f64) {
        let v = if v.is_nan() || v < 0.0 { 0.0 } else { v };
        let i = DURATION_BUCKETS
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(N_BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        if v.is_finite() {
            let _ = self
                .sum_bits
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                    Some((f64::from_bits(bits) + v).to_bits())
                });
        }
    }

    /// `(sum, count, non-cumulative buckets)`; the last bound is `f64::MAX`,
    /// which the encoder writes as `+Inf`.
    pub(super) fn snapshot(&self) -> (f64, u64, [(f64, u64); N_BUCKETS]) {
        let mut out = [(f64::MAX, 0u64); N_BUCKETS];
        let mut count = 0u64;
        for (i, slot) in out.iter_mut().enumerate() {
            let n = self.buckets[i].load(Ordering::Relaxed);
            count = count.wrapping_add(n);
            *slot = (DURATION_BUCKETS.get(i).copied().unwrap_or(f64::MAX), n);
        }
        (
            f64::from_bits(self.sum_bits.load(Ordering::Relaxed)),
            count,
            out,
        )
    }
}

/// `request_duration_seconds{endpoint}`: one [`AtomicHistogram`] per endpoint,
/// registered as one metric and encoded as a labelled family.
#[derive(Clone, Debug, Default)]
pub(super) struct DurationFamily(pub(super) Arc<[AtomicHistogram; Endpoint::ALL.len()]>);

impl EncodeMetric for DurationFamily {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        for e in Endpoint::ALL {
            let (sum, count, buckets) = self.0[e as usize].snapshot();
            let labels: Label1 = [("endpoint", e.as_str())];
            let mut enc = encoder.encode_family(&labels)?;
            enc.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)?;
        }
        Ok(())
    }

    fn metric_type(&self) -> MetricType {
        MetricType::Histogram
    }
}
