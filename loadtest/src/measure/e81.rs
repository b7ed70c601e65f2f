//! E81: the first and the last directory of the sorted list, asked alike.

use std::net::IpAddr;

use serde_json::{Value, json};

/// Per-request averages of one side of an E81 pair.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct E81Side {
    pub(super) cpu_us: f64,
    pub(super) sys_us: f64,
    pub(super) bytes: f64,
    pub(super) instructions: Option<f64>,
}

/// The first and the last directory, asked the same way by the same clients.
pub(super) struct E81Pair {
    pub(super) kind: &'static str,
    pub(super) first: (usize, String),
    pub(super) last: (usize, String),
    pub(super) first_targets: Vec<String>,
    pub(super) last_targets: Vec<String>,
    pub(super) first_hosts: f64,
    pub(super) last_hosts: f64,
    pub(super) first_side: E81Side,
    pub(super) last_side: E81Side,
}

impl E81Pair {
    pub(super) fn new(
        kind: &'static str,
        first: (usize, String),
        last: (usize, String),
        clients: &[IpAddr],
        target: impl Fn(&str, IpAddr) -> String,
    ) -> E81Pair {
        let first_targets = clients.iter().map(|ip| target(&first.1, *ip)).collect();
        let last_targets = clients.iter().map(|ip| target(&last.1, *ip)).collect();
        E81Pair {
            kind,
            first,
            last,
            first_targets,
            last_targets,
            first_hosts: 0.0,
            last_hosts: 0.0,
            first_side: E81Side::default(),
            last_side: E81Side::default(),
        }
    }

    pub(super) fn cpu_pct(&self) -> f64 {
        (self.last_side.cpu_us - self.first_side.cpu_us) / self.first_side.cpu_us * 100.0
    }

    pub(super) fn instructions_pct(&self) -> Option<f64> {
        Some(
            (self.last_side.instructions? - self.first_side.instructions?)
                / self.first_side.instructions?
                * 100.0,
        )
    }

    pub(super) fn json(&self) -> Value {
        let side = |(i, d): &(usize, String), hosts: f64, s: &E81Side| json!({"index": i, "dir": d, "hosts": hosts, "cpu_us": s.cpu_us, "bytes": s.bytes, "instructions": s.instructions});
        json!({
            "kind": self.kind,
            "first": side(&self.first, self.first_hosts, &self.first_side),
            "last": side(&self.last, self.last_hosts, &self.last_side),
            "cpu_pct": self.cpu_pct(),
            "instructions_pct": self.instructions_pct(),
        })
    }
}
