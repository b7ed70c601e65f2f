//! mirrorfleet edge: answers `/metalink` and `/mirrorlist` from an mmap'd snapshot.
//!
//! A request flows top-down through the modules: [`request`] (query, client
//! address) → [`resolve`] (repo/arch or path → directory and file) → [`select`]
//! (candidate tiers, ordering) → [`render`] (metalink, mirrorlist, explain).
//! [`server`] owns HTTP; [`snapshot`] owns loading and swapping.

pub mod request;
pub mod order;
pub mod render;
