//! Builder → validator → accessors, and rejection of damaged files.

use mirrorfleet_snapshot::model::*;
use mirrorfleet_snapshot::net::Prefix;
use mirrorfleet_snapshot::{HEADER_LEN, Snapshot, SnapshotError, build};
use proptest::prelude::*;

fn url(u: &str) -> HostUrl {
    HostUrl {
        url: u.into(),
        ipv4: None,
        ipv6: None,
    }
}

fn sample() -> SnapshotData {
    let cat = |name: &str, topdir: &str| Category {
        name: name.into(),
        topdir: topdir.into(),
    };
    let host = |id: u64, cc: &[u8; 2], private: bool, u: &str| Host {
        id,
        name: format!("h{id}"),
        country: *cc,
        bandwidth: if id == 2 { 0 } else { 50_000 },
        max_connections: 1,
        private,
        asn: Some(64500 + id as u32),
        peer_asns: vec![64600, 64600],
        allowed_countries: vec![],
        netblocks: vec!["192.0.2.0/24".parse().unwrap()],
        categories: vec![HostCategory {
            category: "Fedora Linux".into(),
            urls: vec![url(u)],
        }],
    };
    let repomd = FileDetails {
        name: "repomd.xml".into(),
        versions: vec![
            FileVersion {
                timestamp: 10,
                size: 5,
                sha256: Some("a".repeat(64)),
                ..Default::default()
            },
            FileVersion {
                timestamp: 20,
                size: 6,
                md5: Some("b".repeat(32)),
                ..Default::default()
            },
        ],
    };
    SnapshotData {
        identity: Identity {
            version: 1204,
            created_at: 1_795_600_000,
            ..Default::default()
        },
        policy: Policy::default(),
        hosts: vec![
            host(3, b"US", false, "https://c.example/fedora"),
            host(1, b"SE", false, "https://a.example/fedora"),
            host(2, b"DE", true, "http://b.example/fedora"),
        ],
        categories: vec![cat("Fedora Linux", "pub/fedora/linux")],
        directories: vec![
            Directory {
                name: "pub/fedora/linux/releases/40/os/repodata".into(),
                category: "Fedora Linux".into(),
                carriers: vec![3, 2, 1],
                files: vec![repomd],
            },
            Directory {
                name: "pub/fedora/linux/releases/40/os".into(),
                category: "Fedora Linux".into(),
                carriers: vec![1, 2, 3],
                files: vec![],
            },
            Directory {
                name: "pub/fedora/linux".into(),
                category: "Fedora Linux".into(),
                ..Default::default()
            },
        ],
        repositories: vec![RepoEntry {
            prefix: "fedora-40".into(),
            arch: "x86_64".into(),
            directory: "pub/fedora/linux/releases/40/os".into(),
        }],
        redirects: vec![("f40".into(), "fedora-40".into())],
        disabled: vec!["fedora-39".into()],
        netblock_countries: vec![("192.0.2.0/28".parse().unwrap(), *b"FR")],
        continents: vec![
            (*b"DE", *b"EU"),
            (*b"FR", *b"EU"),
            (*b"SE", *b"EU"),
            (*b"US", *b"NA"),
        ],
        prefix_asn: vec![
            ("192.0.2.0/24".parse().unwrap(), 64500),
            ("192.0.0.0/16".parse().unwrap(), 1),
            ("2001:db8::/32".parse().unwrap(), 64501),
        ],
        ..Default::default()
    }
}

#[test]
fn builds_and_reads_back() {
    let bytes = build(&sample()).unwrap();
    let snap = Snapshot::from_bytes(bytes).unwrap();
    assert_eq!(snap.version(), 1204);
    let p = snap.payload();
    assert_eq!(p.counts.hosts, 3);
    assert_eq!(p.counts.public_hosts, 2);
    assert_eq!(p.counts.carried_pairs, 6);
    assert_eq!(p.counts.prefix_asn_entries, 3);
    // Hosts by id, bandwidth clamped, peer ASNs deduplicated.
    let ids: Vec<u64> = p.hosts.iter().map(|h| h.id.to_native()).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(p.hosts[0].bandwidth, 10_000);
    assert_eq!(p.hosts[1].bandwidth, 1);
    assert_eq!(p.hosts[0].peer_asns.len(), 1);
    let d = snap
        .find_directory("pub/fedora/linux/releases/40/os")
        .unwrap();
    let dir = snap.directory(d).unwrap();
    assert_eq!(snap.subpath(dir), "releases/40/os");
    assert_eq!(snap.host_list(&dir.by_host).len(), 3);
    assert_eq!(snap.host_list(&dir.global).len(), 2);
    let groups: Vec<[u8; 2]> = snap.country_groups(dir).iter().map(|g| g.country).collect();
    assert_eq!(groups, [*b"SE", *b"US"]);
    let top = snap
        .directory(snap.find_directory("pub/fedora/linux").unwrap())
        .unwrap();
    assert_eq!(snap.subpath(top), "");
    let repo = snap.find_repo("fedora-40", "x86_64").unwrap();
    let rd = snap.directory(repo.repodata.to_native()).unwrap();
    let file = snap
        .find_file(repo.repodata.to_native(), "repomd.xml")
        .unwrap();
    let versions = snap.versions(file);
    assert_eq!(versions[0].timestamp, 20, "newest first in {}", rd.name);
    assert_eq!(snap.redirect("f40"), Some("fedora-40"));
    assert!(snap.is_disabled("fedora-39"));
    assert_eq!(snap.continent_of(*b"SE"), Some(*b"EU"));
    let (asn, prefix) = snap.asn_of("192.0.2.9".parse().unwrap()).unwrap();
    assert_eq!((asn, prefix.to_string().as_str()), (64500, "192.0.2.0/24"));
    assert_eq!(snap.asn_of("192.0.3.9".parse().unwrap()).unwrap().0, 1);
    assert_eq!(
        snap.asn_of("::ffff:192.0.3.9".parse().unwrap()).unwrap().0,
        1
    );
    assert_eq!(
        snap.asn_of("2001:db8::1".parse().unwrap()).unwrap().0,
        64501
    );
    assert_eq!(snap.asn_of("10.0.0.1".parse().unwrap()), None);
    assert_eq!(snap.asn_hosts(64600).len(), 3);
    assert_eq!(p.netblocks.len(), 1);
}

#[test]
fn builder_refuses_inconsistent_data() {
    let mut data = sample();
    data.directories[0].carriers.push(99);
    let err = build(&data).unwrap_err().to_string();
    assert!(err.contains("carrier 99 is not an exported host"), "{err}");
    let mut data = sample();
    data.hosts[0].country = *b"XX";
    let err = build(&data).unwrap_err().to_string();
    assert!(err.contains("country has no continent"), "{err}");
}

#[test]
fn rejects_damaged_files() {
    let bytes = build(&sample()).unwrap();
    let truncated = bytes[..bytes.len() - 10].to_vec();
    assert!(matches!(
        Snapshot::from_bytes(truncated),
        Err(SnapshotError::Header(_))
    ));
    let mut corrupt = bytes.clone();
    let n = corrupt.len();
    corrupt[n - 20] ^= 0xff;
    assert_eq!(
        Snapshot::from_bytes(corrupt).unwrap_err(),
        SnapshotError::Hash
    );
    let mut future = bytes.clone();
    future[8] = 2;
    assert_eq!(
        Snapshot::from_bytes(future).unwrap_err().reason(),
        "format_version"
    );
    let mut foreign = bytes.clone();
    foreign[0] = b'X';
    assert_eq!(
        Snapshot::from_bytes(foreign).unwrap_err().reason(),
        "header"
    );
    assert_eq!(Snapshot::from_bytes(vec![]).unwrap_err().reason(), "header");
    assert!(Snapshot::from_bytes(bytes[..HEADER_LEN].to_vec()).is_err());
}

/// Re-hashes a tampered payload so the damage reaches the archive checks.
fn rehash(mut file: Vec<u8>) -> Vec<u8> {
    use sha2::Digest;
    let digest: [u8; 32] = sha2::Sha256::digest(&file[HEADER_LEN..]).into();
    file[24..56].copy_from_slice(&digest);
    file
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn damaged_payloads_never_panic(pos in 0usize..100_000, byte in any::<u8>(), cut in 0usize..100_000) {
        let bytes = build(&sample()).unwrap();
        let mut damaged = bytes.clone();
        let i = HEADER_LEN + pos % (bytes.len() - HEADER_LEN);
        damaged[i] = byte;
        let _ = Snapshot::from_bytes(rehash(damaged));
        let cut = cut % bytes.len();
        let _ = Snapshot::from_bytes(bytes[..cut].to_vec());
    }
}

#[test]
fn prefixes_survive() {
    let p: Prefix = "2001:db8:1000::/36".parse().unwrap();
    assert_eq!(p.len(), 36);
}
