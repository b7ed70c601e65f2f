//! mirrorfleet edge: answers `/metalink` and `/mirrorlist` from a snapshot.
//!
//! A request flows top-down through the modules: [`request`] (query, client
//! address, Accept) → [`resolve`] (repo/arch or path → directory and file) →
//! [`select`] (candidate tiers, ordered with [`order`]) → [`render`] (metalink,
//! mirrorlist) or [`explain`]. [`service`] runs that pipeline for one request
//! and [`status`] answers the operational endpoints; [`server`] owns HTTP
//! (hyper), timeouts and shutdown. [`source`] loads snapshots, [`loaded`]
//! holds one with its load-time indexes, [`state`] is the shared state behind
//! `arc-swap`. [`config`], [`geoip`] and [`metrics`] are what they say.

pub mod config;
pub mod explain;
pub mod follow;
pub mod geoip;
pub mod loaded;
pub mod metrics;
pub mod order;
pub mod render;
pub mod request;
pub mod resolve;
pub mod select;
pub mod server;
pub mod service;
pub mod source;
pub mod state;
pub mod status;
