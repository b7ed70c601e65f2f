//! The mirrorfleet snapshot: the contract between control plane and edges.
//!
//! A snapshot file is a fixed [`header`] followed by an rkyv archive of the
//! [`schema`]. [`build()`] turns a logical [`model::SnapshotData`] into such a
//! file; [`Snapshot`] opens one, checking the header, the hash, the archive
//! structure and every semantic rule of data-model.md §10 exactly once, and
//! then hands out zero-copy accessors.
//!
//! This crate has no I/O beyond reading a file, no async, no HTTP, no database.

pub mod build;
pub mod countries;
pub mod header;
pub mod intervals;
pub mod model;
pub mod net;
pub mod read;
pub mod schema;
pub mod validate;

pub use build::{BuildError, build};
pub use header::{FORMAT_VERSION, HEADER_LEN, Header};
pub use read::Snapshot;

/// Why a snapshot file was refused. Every variant names what to look at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    /// Header problem: too short, bad magic, unknown flags, length mismatch.
    #[error("bad snapshot header: {0}")]
    Header(String),
    /// A format this build cannot read (older or newer).
    #[error(
        "snapshot format version {found} is not supported (this build reads version {})",
        header::FORMAT_VERSION
    )]
    FormatVersion {
        /// The version in the file.
        found: u32,
    },
    /// The payload does not match the header's SHA-256 (corrupted).
    #[error("snapshot payload SHA-256 does not match its header (corrupted file)")]
    Hash,
    /// The archive failed structural checking.
    #[error("snapshot archive is malformed: {0}")]
    Archive(String),
    /// A semantic rule of data-model.md §10 failed.
    #[error("snapshot failed validation: {0}")]
    Validation(String),
    /// The file could not be read.
    #[error("cannot read snapshot: {0}")]
    Io(String),
}

impl SnapshotError {
    /// The `reason` label of `snapshot_rejected_total` (edge-protocol.md E77).
    pub fn reason(&self) -> &'static str {
        match self {
            SnapshotError::Header(_) => "header",
            SnapshotError::FormatVersion { .. } => "format_version",
            SnapshotError::Hash => "hash",
            SnapshotError::Archive(_) => "archive",
            SnapshotError::Validation(_) => "validation",
            SnapshotError::Io(_) => "io",
        }
    }
}
