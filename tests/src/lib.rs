//! Shared helpers for the end-to-end tests: start binaries, serve mirrors, make fixtures.
//!
//! - [`require_tool`]: a missing prerequisite fails the test under `CI=true`, else a loud SKIP.
//! - [`StaticServer`]: a mirror over HTTP/1.1 on 127.0.0.1 that records every request.
//! - [`build_rpm`], [`make_repo`], [`repomd_details`]: a tiny RPM, a yum repository, and what a
//!   metalink says about its repomd.xml.
//! - [`binary_path`], [`build_snapshot`], [`EdgeProcess`]: the workspace's `mirrorfleet` and
//!   `mirrorfleet-edge`; [`process`]: the one way an edge is started and waited for.
//! - [`DnfRoot`]: the real dnf in an isolated installroot.
//! - [`http_get`]: a small blocking HTTP client, and the one HTTP/1.x response parser;
//!   [`Listening`]: the address and URL of an edge or a mirror.
//!
//! Every wait is bounded: child processes run under [`run_with_timeout`], the edge must be ready
//! within [`EDGE_READY_TIMEOUT`], HTTP exchanges take a timeout.

pub mod bins;
pub mod control;
pub mod digest;
pub mod dnf;
pub mod fixture;
pub mod fixture_extra;
pub mod http;
/// moto, the S3-compatible test server: the control plane's test support, shared by path.
#[path = "../../control-plane/tests/support/s3.rs"]
pub mod moto;
pub mod process;
pub mod repo;
pub mod server;
pub mod store;
pub mod tools;

pub use bins::{
    EDGE_READY_TIMEOUT, EdgeProcess, FIXTURE_EPOCH, binary_command, binary_path, build_snapshot,
    free_port, profile_dir, workspace_root,
};
pub use dnf::{DNF_TIMEOUT, DnfRoot};
pub use http::{HttpResponse, Listening, http_get, http_request};
pub use process::EdgeChild;
pub use repo::{
    HELLO_NAME, RepomdDetails, build_rpm, build_rpm_with, copy_tree, make_repo, make_repo_with,
    repomd_details, repomd_locations,
};
pub use server::{ServedRequest, StaticServer};
pub use tools::{
    CmdOutput, find_in_path, is_ci, loud, require_tool, require_tools, run_with_timeout,
};
