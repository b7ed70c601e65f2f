//! The mirrorfleet snapshot: the contract between control plane and edges.

pub mod countries;
pub mod model;
pub mod net;
