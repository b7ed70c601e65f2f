//! The examples of control-plane.md §4.6, one row each, and the rule engine's corners.

use super::*;

const ARCHES: &[&str] = &[
    "x86_64", "aarch64", "ppc64le", "s390x", "i386", "armhfp", "noarch", "source",
];

fn is_arch(a: &str) -> bool {
    ARCHES.contains(&a)
}

fn prefix(set: &str, path: &str) -> Option<(String, String, String)> {
    match RuleSets::default().get(set).unwrap().map(path, &is_arch) {
        Mapping::Prefix {
            arch,
            version,
            prefix,
            ..
        } => Some((prefix, arch, version)),
        _ => None,
    }
}

#[test]
fn fedora_examples() {
    let rows = [
        (
            "releases/40/Everything/x86_64/os",
            "fedora-40",
            "x86_64",
            "40",
        ),
        (
            "development/41/Everything/source/tree",
            "fedora-source-41",
            "source",
            "41",
        ),
        (
            "releases/40/Everything/x86_64/debug/tree",
            "fedora-debug-40",
            "x86_64",
            "40",
        ),
        (
            "releases/28/Modular/x86_64/os",
            "fedora-modular-28",
            "x86_64",
            "28",
        ),
        (
            "releases/20/Fedora/x86_64/os",
            "fedora-install-20",
            "x86_64",
            "20",
        ),
        (
            "updates/28/Modular/x86_64",
            "updates-released-modular-f28",
            "x86_64",
            "28",
        ),
        (
            "updates/testing/28/Modular/x86_64",
            "updates-testing-modular-f28",
            "x86_64",
            "28",
        ),
        (
            "development/rawhide/Modular/x86_64/os",
            "rawhide-modular",
            "x86_64",
            "development",
        ),
        (
            "updates/40/Everything/x86_64",
            "updates-released-f40",
            "x86_64",
            "40",
        ),
        (
            "updates/40/Everything/x86_64/debug",
            "updates-released-debug-f40",
            "x86_64",
            "40",
        ),
        (
            "updates/testing/40/Everything/source/tree",
            "updates-testing-source-f40",
            "source",
            "40",
        ),
        (
            "updates/testing/40/Everything/aarch64",
            "updates-testing-f40",
            "aarch64",
            "40",
        ),
        (
            "development/rawhide/Everything/x86_64/os",
            "rawhide",
            "x86_64",
            "development",
        ),
        (
            "development/rawhide/Everything/x86_64/debug/tree",
            "rawhide-debug",
            "x86_64",
            "development",
        ),
        (
            "development/rawhide/Everything/source/tree",
            "rawhide-source",
            "source",
            "development",
        ),
        (
            "releases/20/Everything/source/SRPMS",
            "fedora-source-20",
            "source",
            "20",
        ),
        (
            "updates/40/Everything/SRPMS",
            "updates-released-source-f40",
            "source",
            "40",
        ),
    ];
    for (path, want, arch, version) in rows {
        assert_eq!(
            prefix("fedora", path),
            Some((want.to_string(), arch.to_string(), version.to_string())),
            "{path}"
        );
    }
}

#[test]
fn fedora_exclusions_and_skips() {
    let set = RuleSets::default();
    let fedora = set.get("fedora").unwrap();
    assert_eq!(
        fedora.map("releases/test/41_Beta/Everything/x86_64/os", &is_arch),
        Mapping::Excluded { rule: 1 }
    );
    // REL but none of Everything, Modular, Fedora: rule 6.
    assert_eq!(
        fedora.map("releases/40/Spins/x86_64/os", &is_arch),
        Mapping::Excluded { rule: 6 }
    );
    assert_eq!(
        fedora.map("releases/40/Server/x86_64/os", &is_arch),
        Mapping::Skipped {
            dir: "Server".into()
        }
    );
    assert_eq!(
        fedora.map("extras/40/x86_64", &is_arch),
        Mapping::Excluded { rule: 15 }
    );
    assert_eq!(
        fedora.map("updates/40/Everything/riscv64", &is_arch),
        Mapping::NoArch
    );
}

#[test]
fn epel_examples() {
    let rows = [
        (
            "testing/next/9/Everything/x86_64",
            "epel-testing-next-9",
            "x86_64",
            "9",
        ),
        (
            "next/9/Everything/x86_64/debug",
            "epel-next-debug-9",
            "x86_64",
            "9",
        ),
        (
            "next/9/Everything/source/tree",
            "epel-next-source-9",
            "source",
            "9",
        ),
        (
            "testing/8/Modular/x86_64",
            "testing-modular-epel8",
            "x86_64",
            "8",
        ),
        (
            "testing/9/Everything/source/tree",
            "testing-source-epel9",
            "source",
            "9",
        ),
        (
            "playground/8/Everything/x86_64",
            "playground-epel8",
            "x86_64",
            "8",
        ),
        ("8/Modular/aarch64", "epel-modular-8", "aarch64", "8"),
        ("9/Everything/x86_64", "epel-9", "x86_64", "9"),
        ("9/Everything/x86_64/debug", "epel-debug-9", "x86_64", "9"),
        ("10.0/Everything/x86_64", "epel-10.0", "x86_64", "10.0"),
        ("7/SRPMS", "epel-source-7", "source", "7"),
        ("7/x86_64", "epel-7", "x86_64", "7"),
    ];
    for (path, want, arch, version) in rows {
        assert_eq!(
            prefix("epel", path),
            Some((want.to_string(), arch.to_string(), version.to_string())),
            "{path}"
        );
    }
}

#[test]
fn other_built_in_sets() {
    assert_eq!(
        prefix("fedora-codecs", "openh264/40/x86_64/debug")
            .unwrap()
            .0,
        "fedora-cisco-openh264-debug-40"
    );
    assert_eq!(prefix("centos", "7/extras/x86_64").unwrap().0, "extras");
    assert_eq!(
        prefix("rhel", "9/HighAvailability/x86_64").unwrap().0,
        "rhel-9-highavailability"
    );
    assert_eq!(
        prefix("rhel", "9/beta/optional/source/SRPMS").unwrap().0,
        "rhel-optional-source-9-beta"
    );
    assert_eq!(
        prefix("rpmfusion-free-fedora", "updates/testing/40/x86_64")
            .unwrap()
            .0,
        "free-fedora-updates-testing-40"
    );
    assert_eq!(
        prefix("rpmfusion-nonfree-fedora", "development/rawhide/x86_64/os")
            .unwrap()
            .0,
        "nonfree-fedora-rawhide"
    );
}

fn table(text: &str) -> toml::Table {
    toml::from_str(text).unwrap()
}

#[test]
fn configured_sets_replace_built_ins_and_use_captures() {
    let custom = table(
        r#"
        name = "fedora"
        skip_dirs = []
        version_patterns = [{ pattern = '^v(?P<version>\d+)/' }]
        rules = [
            { all = ['^v\d+/(?P<flavour>[a-z]+)/'], prefix = 'custom-{flavour}{-kind}-{v}' },
        ]
        suffixes = [{ when = 'beta', append = '.beta' }]
        "#,
    );
    let sets = RuleSets::new(&[custom]).unwrap();
    let fedora = sets.get("fedora").unwrap();
    assert_eq!(
        fedora.map("v7/server/debug/x86_64/beta", &is_arch),
        Mapping::Prefix {
            arch: "x86_64".into(),
            version: "7".into(),
            prefix: "custom-server-debug-7.beta".into(),
            rule: 1
        }
    );
    assert_eq!(
        fedora.map("other/x86_64", &is_arch),
        Mapping::NoVersion {
            arch: "x86_64".into()
        }
    );
    assert_eq!(
        fedora.map("v7/X/x86_64", &is_arch),
        Mapping::NoRule {
            arch: "x86_64".into(),
            version: "7".into()
        }
    );
    // The other built-ins stay.
    assert!(sets.get("epel").is_some());
}

#[test]
fn configuration_errors_name_the_key() {
    let err = |text: &str| RuleSets::new(&[table(text)]).unwrap_err();
    assert_eq!(
        err("name = 'x'\nrules = [{ prefx = 'a' }]"),
        "repomap.ruleset[0].rules[0].prefx: unknown key \"prefx\"; did you mean \"prefix\"?"
    );
    assert!(
        err("name = 'x'\nrules = [{ prefix = 'a-{ver}' }]")
            .starts_with("repomap.ruleset[0].rules[0].prefix: unknown placeholder {ver}"),
    );
    assert!(
        err("name = 'x'\nrules = [{ all = ['('] }]")
            .starts_with("repomap.ruleset[0].rules[0].all: \"(\" is not a regular expression"),
    );
    assert_eq!(
        err("name = 'x'\nversion_patterns = [{ pattern = 'v' }]"),
        "repomap.ruleset[0].version_patterns[0].pattern: needs a group (?P<version>…), or give \
         \"value\""
    );
    assert_eq!(err("rules = []"), "repomap.ruleset[0]: missing \"name\"");
    assert!(
        err("name = 'x'\nrules = [{ prefix = 'a b{v}' }]").contains("cannot be part of a prefix")
    );
    let two = [table("name = 'x'"), table("name = 'x'")];
    assert_eq!(
        RuleSets::new(&two).unwrap_err(),
        "repomap.ruleset[1].name: \"x\" is already the name of repomap.ruleset[0]"
    );
}
