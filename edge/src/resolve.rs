//! Resolution (edge-protocol.md §5): `repo`/`arch` or `path` → the request
//! directory `d` and file `f`, or one of the resolution answers of E36.

use mirrorfleet_snapshot::schema::NONE;

use crate::loaded::Loaded;
use crate::request::query::Params;

/// Which selection endpoint asked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `/metalink`
    Metalink,
    /// `/mirrorlist`
    Mirrorlist,
}

pub use crate::render::Identity;

/// What a request resolved to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution<'a> {
    /// A directory (and maybe a file) to select mirrors for.
    Target {
        /// Directory index.
        dir: u32,
        /// File name; `None` for a directory answer.
        file: Option<&'a str>,
        /// For the header line.
        identity: Identity<'a>,
    },
    /// The prefix is disabled (200).
    Disabled {
        /// Identity as asked (after redirect).
        identity: Identity<'a>,
    },
    /// Unknown (prefix, arch) (404).
    UnknownRepo {
        /// After redirect.
        repo: &'a str,
        /// As asked.
        arch: &'a str,
    },
    /// `path` names nothing exported (404).
    InvalidPath,
    /// No file details for (d, f) (404): `D/F not found or has no metalink`.
    NoMetalink {
        /// Directory part.
        dir: &'a str,
        /// File part ("" for a directory).
        file: &'a str,
    },
}

/// The statistics keys of a request (E70): snapshot strings only, or `?`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsKey<'a> {
    /// Repo prefix after redirection, or `?`.
    pub repo: &'a str,
    /// Arch after the `source` rule, or `?`.
    pub arch: &'a str,
}

/// Resolves the parameters against the snapshot. `params` was validated, so
/// either `path` or both `repo` and `arch` are present.
pub fn resolve<'a>(loaded: &'a Loaded, params: &'a Params, endpoint: Endpoint) -> Resolution<'a> {
    let snap = &loaded.snap;
    if let Some(path) = params.path.as_deref() {
        return resolve_path(loaded, path, endpoint);
    }
    let (Some(asked), Some(arch)) = (params.repo.as_deref(), params.arch.as_deref()) else {
        return Resolution::InvalidPath;
    };
    let repo = snap.redirect(asked).unwrap_or(asked);
    if snap.is_disabled(repo) {
        return Resolution::Disabled {
            identity: Identity::Repo { repo, arch },
        };
    }
    let (entry, arch) = match snap.find_repo(repo, arch) {
        Some(e) => (e, arch),
        None => match snap.find_repo(repo, "source") {
            Some(e) => (e, "source"),
            None => return Resolution::UnknownRepo { repo, arch },
        },
    };
    let identity = Identity::Repo { repo, arch };
    match endpoint {
        Endpoint::Mirrorlist => Resolution::Target {
            dir: entry.dir.to_native(),
            file: None,
            identity,
        },
        Endpoint::Metalink => {
            let repodata = entry.repodata.to_native();
            if repodata != NONE && snap.find_file(repodata, "repomd.xml").is_some() {
                return Resolution::Target {
                    dir: repodata,
                    file: Some("repomd.xml"),
                    identity,
                };
            }
            let dir = match snap.directory(repodata) {
                Some(d) => d.name.as_str(),
                None => snap
                    .directory(entry.dir.to_native())
                    .map_or("", |d| d.name.as_str()),
            };
            // Without an exported repodata child the message names the
            // directory it would be; `dir` above is the repository itself then.
            let dir = if repodata == NONE {
                loaded.repodata_name(entry.dir.to_native())
            } else {
                dir
            };
            Resolution::NoMetalink {
                dir,
                file: "repomd.xml",
            }
        }
    }
}

fn resolve_path<'a>(loaded: &'a Loaded, path: &'a str, endpoint: Endpoint) -> Resolution<'a> {
    let snap = &loaded.snap;
    let identity = Identity::Path(path);
    if let Some(dir) = snap.find_directory(path) {
        return match endpoint {
            Endpoint::Mirrorlist => Resolution::Target {
                dir,
                file: None,
                identity,
            },
            Endpoint::Metalink => Resolution::NoMetalink {
                dir: path,
                file: "",
            },
        };
    }
    // E31: the rest must be an exported directory, on both endpoints.
    let (dir_name, file) = path.rsplit_once('/').unwrap_or(("", path));
    let Some(dir) = snap.find_directory(dir_name) else {
        return Resolution::InvalidPath;
    };
    match endpoint {
        Endpoint::Mirrorlist => Resolution::Target {
            dir,
            file: Some(file),
            identity,
        },
        Endpoint::Metalink if snap.find_file(dir, file).is_some() => Resolution::Target {
            dir,
            file: Some(file),
            identity,
        },
        Endpoint::Metalink => Resolution::NoMetalink {
            dir: dir_name,
            file,
        },
    }
}

/// The E70 statistics keys for a request.
pub fn stats_key<'a>(
    loaded: &'a Loaded,
    params: &Params,
    resolution: &Resolution<'_>,
) -> StatsKey<'a> {
    let unknown = StatsKey {
        repo: "?",
        arch: "?",
    };
    if params.path.is_some() {
        return unknown;
    }
    let (repo, arch) = match resolution {
        Resolution::Target {
            identity: Identity::Repo { repo, arch },
            ..
        }
        | Resolution::Disabled {
            identity: Identity::Repo { repo, arch },
        } => (*repo, *arch),
        Resolution::UnknownRepo { repo, arch } => (*repo, *arch),
        _ => return unknown,
    };
    StatsKey {
        repo: loaded.known_prefix(repo).unwrap_or("?"),
        arch: loaded.known_arch(arch).unwrap_or("?"),
    }
}
