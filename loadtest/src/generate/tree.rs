//! The directory tree, who carries each directory, its file details and the
//! repository map.

use std::collections::HashSet;

use mirrorfleet_snapshot::model::{FileDetails, FileVersion, RepoEntry};

use super::{
    A_X86, ALL, ARCHES, CAT_ARCHIVE, CAT_EPEL, CAT_FEDORA, CATEGORIES, EPEL_VERSIONS, LETTERS,
    RAWHIDE, RELEASES, SOURCE, Summary, VARIANTS_ISO,
};
use crate::rng::Rng;

/// What decides whether a host carries a directory. Directories with the same
/// group share one carrier list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Kind {
    /// Every host with the category (topdirs and intermediate directories).
    Top,
    /// A current release tree.
    Release,
    /// An updates tree (may lag).
    Updates,
    /// updates/testing: complete mirrors only.
    Testing,
    /// rawhide.
    Rawhide,
    /// A current EPEL version.
    Epel,
    /// EPEL testing: complete mirrors only.
    EpelTesting,
    /// Anything under pub/archive: the archive hosts (= complete mirrors).
    Archive,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Group {
    pub(super) cat: u8,
    kind: Kind,
    /// Index into RELEASES / EPEL_VERSIONS.
    rel: u8,
    /// Index into ARCHES, or ALL, or SOURCE.
    arch: u8,
    debug: bool,
}

impl Group {
    fn top(cat: u8) -> Group {
        Group {
            cat,
            kind: Kind::Top,
            rel: 0,
            arch: ALL,
            debug: false,
        }
    }
}

/// How a host syncs (never exported; decides carriage).
#[derive(Clone, Debug)]
pub(super) struct Profile {
    pub(super) complete: bool,
    pub(super) fedora: bool,
    pub(super) epel: bool,
    pub(super) archive: bool,
    pub(super) arches: [bool; 4],
    pub(super) debug: bool,
    pub(super) source: bool,
    pub(super) releases: [bool; 3],
    pub(super) lagging: [bool; 3],
    pub(super) rawhide: bool,
    pub(super) epel_versions: [bool; 4],
}

impl Profile {
    pub(super) fn carries(&self, g: &Group) -> bool {
        let arch_ok = match g.arch {
            ALL => true,
            SOURCE => self.source,
            a => self.arches[usize::from(a)],
        };
        let debug_ok = !g.debug || self.debug;
        let r = usize::from(g.rel);
        match g.kind {
            Kind::Top => match g.cat {
                CAT_FEDORA => self.fedora,
                CAT_EPEL => self.epel,
                _ => self.archive,
            },
            Kind::Release => self.fedora && self.releases[r] && arch_ok && debug_ok,
            Kind::Updates => {
                self.fedora && self.releases[r] && arch_ok && debug_ok && !self.lagging[r]
            }
            Kind::Testing => self.fedora && self.complete,
            Kind::Rawhide => self.fedora && self.rawhide && arch_ok && debug_ok,
            Kind::Epel => self.epel && self.epel_versions[r] && arch_ok && debug_ok,
            Kind::EpelTesting => self.epel && self.complete,
            Kind::Archive => self.archive,
        }
    }
}

pub(super) struct DirSpec {
    pub(super) name: String,
    pub(super) group: Group,
    pub(super) repomd: bool,
    filler: bool,
}

#[derive(Default)]
struct Tree {
    dirs: Vec<DirSpec>,
    seen: HashSet<String>,
}

impl Tree {
    fn add(&mut self, name: String, group: Group, repomd: bool, filler: bool) {
        if self.seen.insert(name.clone()) {
            self.dirs.push(DirSpec {
                name,
                group,
                repomd,
                filler,
            });
        }
    }

    /// A repository directory: itself, `repodata` (with repomd.xml), `Packages` and
    /// its 36 letter subdirectories (filler).
    fn repo(&mut self, base: &str, g: Group) {
        self.add(base.to_string(), g, false, false);
        self.add(format!("{base}/repodata"), g, true, false);
        self.add(format!("{base}/Packages"), g, false, false);
        for &c in LETTERS {
            self.add(format!("{base}/Packages/{}", c as char), g, false, true);
        }
    }

    /// An installable tree: `os` repository plus `images`.
    fn os_tree(&mut self, arch_dir: &str, g: Group) {
        self.add(arch_dir.to_string(), g, false, false);
        self.repo(&format!("{arch_dir}/os"), g);
        self.add(format!("{arch_dir}/os/images"), g, false, true);
        self.add(format!("{arch_dir}/os/images/pxeboot"), g, false, true);
    }

    fn required(&self) -> usize {
        self.dirs.iter().filter(|d| !d.filler).count()
    }
}

fn g(cat: u8, kind: Kind, rel: u8, arch: u8, debug: bool) -> Group {
    Group {
        cat,
        kind,
        rel,
        arch,
        debug,
    }
}

fn current_fedora(t: &mut Tree) {
    let top = "pub/fedora/linux";
    for (ri, rel) in RELEASES.iter().enumerate() {
        let r = ri as u8;
        for (ai, arch) in ARCHES.iter().enumerate() {
            let a = ai as u8;
            let rg = g(CAT_FEDORA, Kind::Release, r, a, false);
            t.os_tree(&format!("{top}/releases/{rel}/Everything/{arch}"), rg);
            t.add(
                format!("{top}/releases/{rel}/Everything/{arch}/debug"),
                g(CAT_FEDORA, Kind::Release, r, a, true),
                false,
                false,
            );
            t.repo(
                &format!("{top}/releases/{rel}/Everything/{arch}/debug/tree"),
                g(CAT_FEDORA, Kind::Release, r, a, true),
            );
            t.os_tree(&format!("{top}/releases/{rel}/Server/{arch}"), rg);
            t.add(
                format!("{top}/releases/{rel}/Server/{arch}/iso"),
                rg,
                false,
                false,
            );
            if a == A_X86 || arch == &"aarch64" {
                for v in VARIANTS_ISO {
                    t.add(format!("{top}/releases/{rel}/{v}/{arch}"), rg, false, false);
                    t.add(
                        format!("{top}/releases/{rel}/{v}/{arch}/iso"),
                        rg,
                        false,
                        false,
                    );
                    t.add(
                        format!("{top}/releases/{rel}/{v}/{arch}/images"),
                        rg,
                        false,
                        false,
                    );
                }
            }
            for (testing, kind) in [(false, Kind::Updates), (true, Kind::Testing)] {
                let base = if testing {
                    format!("{top}/updates/testing/{rel}")
                } else {
                    format!("{top}/updates/{rel}")
                };
                let ug = g(CAT_FEDORA, kind, r, a, false);
                t.repo(&format!("{base}/Everything/{arch}"), ug);
                t.repo(
                    &format!("{base}/Everything/{arch}/debug"),
                    g(CAT_FEDORA, kind, r, a, true),
                );
            }
        }
        let sg = g(CAT_FEDORA, Kind::Release, r, SOURCE, false);
        t.add(
            format!("{top}/releases/{rel}/Everything/source"),
            sg,
            false,
            false,
        );
        t.repo(&format!("{top}/releases/{rel}/Everything/source/tree"), sg);
        for (testing, kind) in [(false, Kind::Updates), (true, Kind::Testing)] {
            let base = if testing {
                format!("{top}/updates/testing/{rel}")
            } else {
                format!("{top}/updates/{rel}")
            };
            let ug = g(CAT_FEDORA, kind, r, SOURCE, false);
            t.add(format!("{base}/Everything/source"), ug, false, false);
            t.repo(&format!("{base}/Everything/source/tree"), ug);
        }
    }
    for (ai, arch) in ARCHES.iter().enumerate() {
        let a = ai as u8;
        let base = format!("{top}/development/rawhide/Everything/{arch}");
        t.os_tree(&base, g(CAT_FEDORA, Kind::Rawhide, 0, a, false));
        t.add(
            format!("{base}/debug"),
            g(CAT_FEDORA, Kind::Rawhide, 0, a, true),
            false,
            false,
        );
        t.repo(
            &format!("{base}/debug/tree"),
            g(CAT_FEDORA, Kind::Rawhide, 0, a, true),
        );
    }
    let sg = g(CAT_FEDORA, Kind::Rawhide, 0, SOURCE, false);
    t.add(
        format!("{top}/development/rawhide/Everything/source"),
        sg,
        false,
        false,
    );
    t.repo(
        &format!("{top}/development/rawhide/Everything/source/tree"),
        sg,
    );
}

fn current_epel(t: &mut Tree) {
    for (vi, ver) in EPEL_VERSIONS.iter().enumerate() {
        let v = vi as u8;
        for (testing, kind) in [(false, Kind::Epel), (true, Kind::EpelTesting)] {
            let base = if testing {
                format!("pub/epel/testing/{ver}")
            } else {
                format!("pub/epel/{ver}")
            };
            for (ai, arch) in ARCHES.iter().enumerate() {
                let a = ai as u8;
                t.repo(
                    &format!("{base}/Everything/{arch}"),
                    g(CAT_EPEL, kind, v, a, false),
                );
                t.repo(
                    &format!("{base}/Everything/{arch}/debug"),
                    g(CAT_EPEL, kind, v, a, true),
                );
            }
            let sg = g(CAT_EPEL, kind, v, SOURCE, false);
            t.add(format!("{base}/Everything/source"), sg, false, false);
            t.repo(&format!("{base}/Everything/source/tree"), sg);
        }
    }
}

/// Arches of an archived Fedora release.
fn archived_arches(rel: u32) -> &'static [&'static str] {
    match rel {
        0..=16 => &["i386", "x86_64"],
        17..=25 => &["armhfp", "i386", "x86_64"],
        26..=36 => &["aarch64", "armhfp", "ppc64le", "s390x", "x86_64"],
        _ => &["aarch64", "ppc64le", "s390x", "x86_64"],
    }
}

/// One archived release of `root` (`fedora/linux` or `fedora-secondary`).
fn archived_release(t: &mut Tree, root: &str, rel: u32, arches: &[&str]) {
    let ag = g(CAT_ARCHIVE, Kind::Archive, 0, ALL, false);
    let base = format!("pub/archive/{root}");
    for arch in arches {
        t.os_tree(&format!("{base}/releases/{rel}/Everything/{arch}"), ag);
        t.add(
            format!("{base}/releases/{rel}/Everything/{arch}/debug"),
            ag,
            false,
            false,
        );
        t.repo(
            &format!("{base}/releases/{rel}/Everything/{arch}/debug/tree"),
            ag,
        );
        t.repo(&format!("{base}/updates/{rel}/Everything/{arch}"), ag);
        t.repo(&format!("{base}/updates/{rel}/Everything/{arch}/debug"), ag);
    }
    t.add(
        format!("{base}/releases/{rel}/Everything/source"),
        ag,
        false,
        false,
    );
    t.repo(&format!("{base}/releases/{rel}/Everything/source/tree"), ag);
    t.add(
        format!("{base}/updates/{rel}/Everything/source"),
        ag,
        false,
        false,
    );
    t.repo(&format!("{base}/updates/{rel}/Everything/source/tree"), ag);
}

fn archived_epel(t: &mut Tree, ver: u32) {
    let ag = g(CAT_ARCHIVE, Kind::Archive, 0, ALL, false);
    let arches: &[&str] = if ver >= 7 {
        &["aarch64", "ppc64le", "x86_64"]
    } else {
        &["i386", "ppc64", "x86_64"]
    };
    for arch in arches {
        t.repo(&format!("pub/archive/epel/{ver}/{arch}"), ag);
        t.repo(&format!("pub/archive/epel/{ver}/{arch}/debug"), ag);
    }
    t.repo(&format!("pub/archive/epel/{ver}/SRPMS"), ag);
}

/// The directory list: current trees first, then archived releases (newest
/// first) until there are enough; `Packages/<letter>` filler is then trimmed
/// (deterministically) to exactly `target` directories.
pub(super) fn make_tree(target: usize, summary: &mut Summary) -> anyhow::Result<Vec<DirSpec>> {
    let mut t = Tree::default();
    current_fedora(&mut t);
    current_epel(&mut t);
    for ver in [7, 6, 5] {
        archived_epel(&mut t, ver);
    }
    // Archived releases, newest first: Fedora, then secondary arches, until enough.
    let mut candidates: Vec<(&str, u32, &[&str])> = Vec::new();
    for rel in (7..RELEASES[0]).rev() {
        candidates.push(("fedora/linux", rel, archived_arches(rel)));
    }
    for rel in (7..RELEASES[0]).rev() {
        candidates.push((
            "fedora-secondary",
            rel,
            &["armhfp", "i686", "ppc64", "s390x", "mips64el"],
        ));
    }
    for (root, rel, arches) in candidates {
        if t.dirs.len() >= target {
            break;
        }
        archived_release(&mut t, root, rel, arches);
        summary.archived_releases += 1;
    }
    // Every ancestor down to the topdir exists (carried by the whole category).
    let names: Vec<(String, u8)> = t
        .dirs
        .iter()
        .map(|d| (d.name.clone(), d.group.cat))
        .collect();
    for (name, cat) in names {
        let topdir = CATEGORIES[usize::from(cat)].1;
        let mut cut = name.as_str();
        while let Some((parent, _)) = cut.rsplit_once('/') {
            if parent.len() < topdir.len() {
                break;
            }
            t.add(parent.to_string(), Group::top(cat), false, false);
            cut = parent;
        }
    }
    summary.directories_available = t.dirs.len();
    let required = t.required();
    anyhow::ensure!(
        t.dirs.len() >= target,
        "cannot lay out {target} directories: the generated tree has at most {}",
        t.dirs.len()
    );
    anyhow::ensure!(
        required <= target,
        "--directories {target} is too small: the current trees alone need {required} directories"
    );
    let mut filler: Vec<usize> = (0..t.dirs.len()).filter(|&i| t.dirs[i].filler).collect();
    let mut rng = Rng::derive(0, "filler");
    rng.shuffle(&mut filler);
    let drop: HashSet<usize> = filler.into_iter().skip(target - required).collect();
    Ok(t.dirs
        .into_iter()
        .enumerate()
        .filter(|(i, _)| !drop.contains(i))
        .map(|(_, d)| d)
        .collect())
}

// ---------------------------------------------------------------------------------------------
// File details, repositories
// ---------------------------------------------------------------------------------------------

pub(super) fn repomd(rng: &mut Rng, created_at: i64) -> FileDetails {
    let versions = rng.range(2, 3) as usize;
    let mut t = created_at - rng.below(30 * 86_400) as i64;
    let mut out = Vec::with_capacity(versions);
    for _ in 0..versions {
        out.push(FileVersion {
            timestamp: t,
            size: rng.range(2_500, 24_000),
            md5: rng.chance(0.3).then(|| rng.hex(16)),
            sha1: rng.chance(0.4).then(|| rng.hex(20)),
            sha256: Some(rng.hex(32)),
            sha512: rng.chance(0.8).then(|| rng.hex(64)),
        });
        t -= rng.range(3_600, 3 * 86_400) as i64;
    }
    FileDetails {
        name: "repomd.xml".into(),
        versions: out,
    }
}

pub(super) fn make_repos(names: &HashSet<&str>) -> Vec<RepoEntry> {
    let mut out = Vec::new();
    let mut add = |prefix: String, arch: &str, dir: String| {
        if names.contains(dir.as_str()) {
            out.push(RepoEntry {
                prefix,
                arch: arch.to_string(),
                directory: dir,
            });
        }
    };
    let top = "pub/fedora/linux";
    for rel in RELEASES {
        for arch in ARCHES {
            add(
                format!("fedora-{rel}"),
                arch,
                format!("{top}/releases/{rel}/Everything/{arch}/os"),
            );
            add(
                format!("fedora-debug-{rel}"),
                arch,
                format!("{top}/releases/{rel}/Everything/{arch}/debug/tree"),
            );
            add(
                format!("updates-released-f{rel}"),
                arch,
                format!("{top}/updates/{rel}/Everything/{arch}"),
            );
            add(
                format!("updates-released-debug-f{rel}"),
                arch,
                format!("{top}/updates/{rel}/Everything/{arch}/debug"),
            );
            add(
                format!("updates-testing-f{rel}"),
                arch,
                format!("{top}/updates/testing/{rel}/Everything/{arch}"),
            );
            add(
                format!("updates-testing-debug-f{rel}"),
                arch,
                format!("{top}/updates/testing/{rel}/Everything/{arch}/debug"),
            );
        }
        add(
            format!("fedora-source-{rel}"),
            "source",
            format!("{top}/releases/{rel}/Everything/source/tree"),
        );
        add(
            format!("updates-released-source-f{rel}"),
            "source",
            format!("{top}/updates/{rel}/Everything/source/tree"),
        );
        add(
            format!("updates-testing-source-f{rel}"),
            "source",
            format!("{top}/updates/testing/{rel}/Everything/source/tree"),
        );
    }
    for arch in ARCHES {
        add(
            "rawhide".into(),
            arch,
            format!("{top}/development/rawhide/Everything/{arch}/os"),
        );
        add(
            "rawhide-debug".into(),
            arch,
            format!("{top}/development/rawhide/Everything/{arch}/debug/tree"),
        );
    }
    add(
        "rawhide-source".into(),
        "source",
        format!("{top}/development/rawhide/Everything/source/tree"),
    );
    add(
        format!("fedora-{RAWHIDE}"),
        "x86_64",
        format!("{top}/development/rawhide/Everything/x86_64/os"),
    );
    for ver in EPEL_VERSIONS {
        for arch in ARCHES {
            add(
                format!("epel-{ver}"),
                arch,
                format!("pub/epel/{ver}/Everything/{arch}"),
            );
            add(
                format!("epel-debug-{ver}"),
                arch,
                format!("pub/epel/{ver}/Everything/{arch}/debug"),
            );
            add(
                format!("epel-testing-{ver}"),
                arch,
                format!("pub/epel/testing/{ver}/Everything/{arch}"),
            );
            add(
                format!("epel-testing-debug-{ver}"),
                arch,
                format!("pub/epel/testing/{ver}/Everything/{arch}/debug"),
            );
        }
        add(
            format!("epel-source-{ver}"),
            "source",
            format!("pub/epel/{ver}/Everything/source/tree"),
        );
        add(
            format!("epel-testing-source-{ver}"),
            "source",
            format!("pub/epel/testing/{ver}/Everything/source/tree"),
        );
    }
    for ver in [5, 6, 7] {
        for arch in ["aarch64", "i386", "ppc64", "ppc64le", "x86_64"] {
            add(
                format!("epel-{ver}"),
                arch,
                format!("pub/archive/epel/{ver}/{arch}"),
            );
            add(
                format!("epel-debug-{ver}"),
                arch,
                format!("pub/archive/epel/{ver}/{arch}/debug"),
            );
        }
        add(
            format!("epel-source-{ver}"),
            "source",
            format!("pub/archive/epel/{ver}/SRPMS"),
        );
    }
    for rel in 7..RELEASES[0] {
        let base = "pub/archive/fedora/linux";
        for arch in archived_arches(rel) {
            add(
                format!("fedora-{rel}"),
                arch,
                format!("{base}/releases/{rel}/Everything/{arch}/os"),
            );
            add(
                format!("fedora-debug-{rel}"),
                arch,
                format!("{base}/releases/{rel}/Everything/{arch}/debug/tree"),
            );
            add(
                format!("updates-released-f{rel}"),
                arch,
                format!("{base}/updates/{rel}/Everything/{arch}"),
            );
            add(
                format!("updates-released-debug-f{rel}"),
                arch,
                format!("{base}/updates/{rel}/Everything/{arch}/debug"),
            );
        }
        add(
            format!("fedora-source-{rel}"),
            "source",
            format!("{base}/releases/{rel}/Everything/source/tree"),
        );
        add(
            format!("updates-released-source-f{rel}"),
            "source",
            format!("{base}/updates/{rel}/Everything/source/tree"),
        );
    }
    out.sort();
    out.dedup_by(|a, b| a.prefix == b.prefix && a.arch == b.arch);
    out
}
