//! The §9 derivation of the example (data-model.md §11.2, "What this gives")
//! and of variants that exercise each rule.

use mirrorfleet_snapshot::countries;
use mirrorfleet_snapshot::model::{Directory, SnapshotData};

use super::{EXAMPLE, example, mutate};
use crate::inventory::{BuildOptions, Inventory, parse_inventory, to_snapshot_data};

fn options() -> BuildOptions {
    BuildOptions {
        version: 7,
        created_at: 1_732_600_000,
        installation_id: [9; 16],
        producer_version: "0.1.0".into(),
        ..BuildOptions::default()
    }
}

fn derive(inv: &Inventory) -> (SnapshotData, Vec<String>) {
    to_snapshot_data(inv, &options())
}

fn derive_text(text: &str) -> SnapshotData {
    let (inv, _) = parse_inventory("inventory.json", text).expect("valid inventory");
    let (data, warnings) = derive(&inv);
    assert!(warnings.is_empty(), "{warnings:?}");
    data
}

fn dir<'d>(data: &'d SnapshotData, name: &str) -> &'d Directory {
    data.directories
        .iter()
        .find(|d| d.name == name)
        .unwrap_or_else(|| panic!("no directory {name}"))
}

fn repo_dir<'d>(data: &'d SnapshotData, prefix: &str, arch: &str) -> &'d Directory {
    let entry = data
        .repositories
        .iter()
        .find(|r| r.prefix == prefix && r.arch == arch)
        .unwrap_or_else(|| panic!("no repo {prefix}/{arch}"));
    dir(data, &entry.directory)
}

#[test]
fn the_example_gives_what_the_spec_says() {
    let (data, warnings) = derive(&example());
    assert!(warnings.is_empty(), "{warnings:?}");

    let hosts: Vec<(u64, &str)> = data.hosts.iter().map(|h| (h.id, h.name.as_str())).collect();
    assert_eq!(
        hosts,
        [
            (1, "mirror.corp.example.com"),
            (2, "fedora.example.net"),
            (3, "mirror.example.edu")
        ]
    );
    let corp = &data.hosts[0];
    assert!(corp.private);
    assert_eq!(&corp.country, b"DE");
    let nets: Vec<String> = corp.netblocks.iter().map(ToString::to_string).collect();
    assert_eq!(nets, ["198.51.100.0/24", "2001:db8:1000::/36"]);
    let us = &data.hosts[1];
    assert_eq!(us.allowed_countries, [*b"CA", *b"US"]);
    assert_eq!(us.categories.len(), 1);
    assert_eq!(us.categories[0].urls.len(), 2);
    let se = &data.hosts[2];
    assert_eq!(
        (se.asn, se.bandwidth, se.max_connections, se.private),
        (Some(64500), 10000, 1, false)
    );
    assert_eq!(
        se.categories
            .iter()
            .map(|c| c.category.as_str())
            .collect::<Vec<_>>(),
        ["Fedora EPEL", "Fedora Linux"]
    );

    assert_eq!(repo_dir(&data, "fedora-40", "x86_64").carriers, [1, 2, 3]);
    assert_eq!(repo_dir(&data, "fedora-40", "aarch64").carriers, [1, 2, 3]);
    assert_eq!(
        repo_dir(&data, "updates-released-f40", "x86_64").carriers,
        [1, 3]
    );
    let epel = repo_dir(&data, "epel-9", "x86_64");
    assert_eq!(epel.carriers, [1, 3]);
    assert_eq!(epel.category, "Fedora EPEL");
    assert_eq!(dir(&data, "pub/fedora/linux").carriers, [3]);
    assert_eq!(dir(&data, "pub/epel").carriers, [1]);

    let repodata = dir(
        &data,
        "pub/fedora/linux/updates/40/Everything/x86_64/repodata",
    );
    assert_eq!(repodata.carriers, [1, 3]);
    assert_eq!(repodata.files.len(), 1);
    assert_eq!(repodata.files[0].name, "repomd.xml");
    let stamps: Vec<i64> = repodata.files[0]
        .versions
        .iter()
        .map(|v| v.timestamp)
        .collect();
    assert_eq!(
        stamps,
        [1_732_520_000, 1_732_433_600],
        "current first, the older one as alternate"
    );
    assert!(repodata.files[0].versions[0].sha512.is_some());

    // 15 directories of Fedora Linux (3 repositories, their repodata and all
    // ancestors) and 5 of EPEL.
    assert_eq!(data.directories.len(), 20);
    assert!(data.directories.iter().all(|d| d.name.starts_with("pub/")));
    assert_eq!(data.repositories.len(), 4);
    assert_eq!(data.repositories[0].prefix, "epel-9");
    assert_eq!(
        data.redirects,
        [("epel-9.4".to_string(), "epel-9".to_string())]
    );
    assert_eq!(data.disabled, ["fedora-39"]);

    assert_eq!(data.continents.len(), countries::COUNTRIES.len());
    assert!(
        data.continents.contains(&(*b"IL", *b"EU")),
        "override applied"
    );
    assert!(data.continents.contains(&(*b"SE", *b"EU")));
    assert_eq!((data.policy.min_mirrors, data.policy.max_hosts), (5, 100));
    assert_eq!(data.identity.producer_name, "mirrorfleet");
    assert_eq!(
        (data.identity.version, data.identity.installation_id),
        (7, [9; 16])
    );
    assert_eq!(data.inputs.continents_source, countries::BUILTIN_REVISION);
    assert_eq!(data.categories.len(), 2);
}

#[test]
fn inactive_hosts_and_hosts_without_public_urls_are_not_exported() {
    // The US host loses its public URLs (kept as private ones): still numbered, not exported.
    let text = EXAMPLE.replacen(
        "{ \"urls\": [\"https://fedora.example.net/pub/fedora/linux\",",
        "{ \"private_urls\": [\"https://fedora.example.net/pub/fedora/linux\",",
        1,
    );
    let data = derive_text(&text);
    assert_eq!(data.hosts.iter().map(|h| h.id).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(repo_dir(&data, "fedora-40", "x86_64").carriers, [1, 3]);

    let text = mutate(
        "{ \"name\": \"Example Corp\",",
        "{ \"name\": \"Example Corp\", \"user_active\": false,",
    );
    let data = derive_text(&text);
    assert_eq!(data.hosts.iter().map(|h| h.id).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(repo_dir(&data, "epel-9", "x86_64").carriers, [3]);

    let text = mutate(
        "\"country\": \"US\",",
        "\"country\": \"US\", \"auto_disabled_at\": \"2024-11-25T10:00:00Z\",",
    );
    let data = derive_text(&text);
    assert_eq!(data.hosts.iter().map(|h| h.id).collect::<Vec<_>>(), [1, 3]);
}

#[test]
fn asn_clients_dns_netblocks_and_duplicates() {
    let text = mutate(
        "\"asn\": 64500, \"netblocks\": [\"192.0.2.0/24\"],",
        "\"asn\": 64500, \"asn_clients\": false, \"peer_asns\": [64511, 64502], \"netblocks\": [\"192.0.2.0/24\", \"mirror-nets.example.edu\"],",
    );
    let (inv, _) = parse_inventory("inventory.json", &text).expect("valid");
    let (data, warnings) = derive(&inv);
    let se = &data.hosts[2];
    assert_eq!(se.asn, None);
    assert_eq!(se.peer_asns, [64502, 64511]);
    assert_eq!(se.netblocks.len(), 1);
    assert_eq!(
        warnings,
        [
            "host \"mirror.example.edu\" of site \"Example University\": netblock \"mirror-nets.example.edu\" is a DNS name; left out (a control plane resolves such names)"
        ]
    );
}

#[test]
fn site_private_makes_hosts_private() {
    let text = mutate(
        "{ \"name\": \"Example Hosting\",",
        "{ \"name\": \"Example Hosting\", \"private\": true,",
    );
    let (inv, warnings) = parse_inventory("inventory.json", &text).expect("valid");
    assert_eq!(
        warnings.len(),
        1,
        "the US host is now private and unreachable: {warnings:?}"
    );
    let (data, _) = derive(&inv);
    assert!(data.hosts[1].private);
}

#[test]
fn nested_topdirs_serve_from_the_longest() {
    // A third category rooted above Fedora Linux that also lists one of its directories.
    let text = mutate(
        "{ \"name\": \"Fedora EPEL\", \"product\": \"EPEL\", \"topdir\": \"pub/epel\", \"repomap\": \"epel\" }",
        "{ \"name\": \"Fedora EPEL\", \"product\": \"EPEL\", \"topdir\": \"pub/epel\", \"repomap\": \"epel\" },\n    \
         { \"name\": \"Fedora Archive\", \"product\": \"Fedora\", \"topdir\": \"pub\", \"directories\": [\"fedora/linux/releases/40\", \"archive/f30\"] }",
    );
    let data = derive_text(&text);
    assert_eq!(
        dir(&data, "pub/fedora/linux/releases/40").category,
        "Fedora Linux"
    );
    assert_eq!(dir(&data, "pub/fedora").category, "Fedora Archive");
    assert_eq!(dir(&data, "pub/archive/f30").category, "Fedora Archive");
    assert!(dir(&data, "pub/archive/f30").carriers.is_empty());
    assert_eq!(data.directories.len(), 20 + 4);
}

#[test]
fn files_unmapped_repositories_and_ties() {
    let text = mutate(
        "  \"repo_redirects\"",
        "  \"files\": [ { \"category\": \"Fedora Linux\", \"dir\": \"releases/40\", \"name\": \"CHECKSUM\", \"history\": [\n    \
         { \"timestamp\": 5, \"size\": 1, \"sha256\": \"1111111111111111111111111111111111111111111111111111111111111111\" },\n    \
         { \"timestamp\": 9, \"size\": 2, \"sha256\": \"2222222222222222222222222222222222222222222222222222222222222222\" },\n    \
         { \"timestamp\": 5, \"size\": 3, \"sha256\": \"3333333333333333333333333333333333333333333333333333333333333333\" } ] } ],\n  \
         \"repo_redirects\"",
    );
    let text = text.replacen(
        "\"prefix\": \"fedora-40\", \"arch\": \"aarch64\"",
        "\"prefix\": null, \"arch\": \"aarch64\"",
        1,
    );
    let data = derive_text(&text);
    let checksum = &dir(&data, "pub/fedora/linux/releases/40").files[0];
    assert_eq!(checksum.name, "CHECKSUM");
    let sizes: Vec<u64> = checksum.versions.iter().map(|v| v.size).collect();
    assert_eq!(sizes, [2, 1, 3], "newest first, ties in file order");
    assert_eq!(
        data.repositories.len(),
        3,
        "the unmapped repository is left out"
    );
    assert!(
        dir(
            &data,
            "pub/fedora/linux/releases/40/Everything/aarch64/os/repodata"
        )
        .files
        .len()
            == 1
    );
}

#[test]
fn the_example_builds_a_snapshot_that_validates() {
    let (data, _) = derive(&example());
    let bytes = mirrorfleet_snapshot::build(&data).expect("the builder accepts the derivation");
    let snapshot =
        mirrorfleet_snapshot::Snapshot::from_bytes(bytes).expect("and its output validates");
    assert_eq!(snapshot.version(), 7);
    assert!(
        snapshot
            .find_directory("pub/epel/9/Everything/x86_64/repodata")
            .is_some()
    );
}
