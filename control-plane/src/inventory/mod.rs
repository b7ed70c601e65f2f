//! The inventory file (data-model.md §11): one JSON document describing the
//! content and mirror side of an installation in a form a person can edit.
//!
//! Reading goes text → `json` (a tree that remembers positions) →
//! [`parse_inventory`] (typed [`Inventory`] plus every problem as a
//! [`Diagnostic`]) → [`to_snapshot_data`] (the §9 derivation, for
//! `snapshot build --inventory`). The importer into a database uses the same
//! [`Inventory`], so both accept exactly the same files.
//!
//! Code map: `document` reads the top level and orders the sections;
//! `catalog`, `repositories`, `files`, `redirects`, `geography` and `mirrors`
//! read one part each; `reader` and `rules` hold the shared value readers and
//! field rules, `url` the mirror URL rules; `tree` derives a category's
//! directories for both validation and the derivation in `derive`.

mod catalog;
mod derive;
mod diagnostic;
mod document;
mod files;
mod geography;
mod json;
mod mirrors;
pub mod model;
mod reader;
mod redirects;
mod repositories;
pub(crate) mod rules;
pub mod tree;
pub mod url;

#[cfg(test)]
mod tests;

pub use derive::{BuildOptions, PRODUCER_NAME, to_snapshot_data};
pub use diagnostic::{Diagnostic, MAX_DIAGNOSTICS, Severity};
pub use document::{FORMAT, FORMAT_VERSION, parse_inventory};
pub use model::{
    Arch, Category, DisabledRepo, FileEntry, FileVersion, Host, HostCategory, HostUrl, Inventory,
    Netblock, Pattern, PolicySettings, Product, Repository, Site, Version,
};
