//! Byte-exact tests of the rendered documents, one per rule of edge-protocol.md §10 (E57–E63)
//! and E61, on the inventory of the spec's examples (DM §11.2).

use super::well_formed::assert_well_formed;
use super::*;

/// Unix time of `Wed, 25 Nov 2026 10:00:03 GMT`, `now` in the spec's examples.
const NOW: i64 = 1_795_600_803;

const MD5: &str = "eb1dd1e55c9e393ce8934774838b09d2";
const SHA1: &str = "d745eed7b51528a3e8e1f622b6636cadcd8e1e52";
const SHA256: &str = "ad84617d95d2886ba5158f1458f95318fae009d94b41e2ec6ea0050d24dc8c30";
const SHA512: &str = "e0e195b1ba327cce3346e976bebc6144cb461bf540064bacc393c4ee0371a27502b716ca2d16ee28f778b708ec251fdf3fd352acc0c367e187bbd5da77542ca9";
const ALT_SHA256: &str = "05215df3ff853004ea9668d53ca97f7a5403352453761cf8bb827119e574a2dd";

const REPODATA: &str = "updates/40/Everything/x86_64/repodata";

/// The §10.1 example, verbatim.
const SPEC_METALINK3: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<metalink version="3.0" xmlns="http://www.metalinker.org/" type="dynamic" pubdate="Wed, 25 Nov 2026 10:00:03 GMT" generator="mirrormanager" xmlns:mm0="http://fedorahosted.org/mirrormanager">
 <files>
  <file name="repomd.xml">
   <mm0:timestamp>1732520000</mm0:timestamp>
   <size>5120</size>
   <verification>
    <hash type="md5">eb1dd1e55c9e393ce8934774838b09d2</hash>
    <hash type="sha1">d745eed7b51528a3e8e1f622b6636cadcd8e1e52</hash>
    <hash type="sha256">ad84617d95d2886ba5158f1458f95318fae009d94b41e2ec6ea0050d24dc8c30</hash>
    <hash type="sha512">e0e195b1ba327cce3346e976bebc6144cb461bf540064bacc393c4ee0371a27502b716ca2d16ee28f778b708ec251fdf3fd352acc0c367e187bbd5da77542ca9</hash>
   </verification>
   <mm0:alternates>
    <mm0:alternate>
      <mm0:timestamp>1732433600</mm0:timestamp>
      <size>5098</size>
      <verification>
       <hash type="sha256">05215df3ff853004ea9668d53ca97f7a5403352453761cf8bb827119e574a2dd</hash>
      </verification>
    </mm0:alternate>
   </mm0:alternates>
   <resources maxconnections="1">
    <url protocol="https" type="https" location="SE" preference="100">https://mirror.example.edu/fedora/linux/updates/40/Everything/x86_64/repodata/repomd.xml</url>
    <url protocol="rsync" type="rsync" location="SE" preference="100">rsync://mirror.example.edu/fedora/linux/updates/40/Everything/x86_64/repodata/repomd.xml</url>
   </resources>
  </file>
 </files>
</metalink>
"#;

const CURRENT: FileVersionRef<'static> = FileVersionRef {
    timestamp: 1_732_520_000,
    size: 5120,
    md5: Some(MD5),
    sha1: Some(SHA1),
    sha256: Some(SHA256),
    sha512: Some(SHA512),
};

const ALTERNATES: &[FileVersionRef<'static>] = &[FileVersionRef {
    timestamp: 1_732_433_600,
    size: 5098,
    md5: None,
    sha1: None,
    sha256: Some(ALT_SHA256),
    sha512: None,
}];

const REPOMD: MetalinkFile<'static> = MetalinkFile {
    name: "repomd.xml",
    current: CURRENT,
    alternates: ALTERNATES,
};

const EDU_URLS: &[UrlParts<'static>] = &[
    UrlParts {
        base: "https://mirror.example.edu/fedora/linux",
        subpath: REPODATA,
        file: Some("repomd.xml"),
    },
    UrlParts {
        base: "rsync://mirror.example.edu/fedora/linux",
        subpath: REPODATA,
        file: Some("repomd.xml"),
    },
];

/// The answer of the §10.1 example: mirror.example.edu alone.
const EDU: &[HostUrls<'static>] = &[HostUrls {
    country: *b"SE",
    private: false,
    urls: EDU_URLS,
}];

fn render(f: impl FnOnce(&mut Vec<u8>)) -> String {
    // Rendering appends: start from a buffer holding an earlier answer, as the server reuses it.
    let mut out = b"previous answer".to_vec();
    f(&mut out);
    let rendered = out.split_off("previous answer".len());
    String::from_utf8(rendered).expect("render writes UTF-8")
}

#[test]
fn e57_spec_example_metalink3() {
    let doc = render(|out| metalink3(out, NOW, &REPOMD, EDU));
    assert_eq!(doc, SPEC_METALINK3);
    assert_well_formed(&doc);
}

#[test]
fn e57_zero_timestamp_and_size_are_left_out() {
    let oldest = FileVersionRef {
        sha256: Some("00ff"),
        ..FileVersionRef::default()
    };
    let alternates = [ALTERNATES[0], oldest];
    let file = MetalinkFile {
        alternates: &alternates,
        ..REPOMD
    };
    let doc = render(|out| metalink3(out, NOW, &file, EDU));
    let expected_alternates = concat!(
        "   <mm0:alternates>\n",
        "    <mm0:alternate>\n",
        "      <mm0:timestamp>1732433600</mm0:timestamp>\n",
        "      <size>5098</size>\n",
        "      <verification>\n",
        "       <hash type=\"sha256\">05215df3ff853004ea9668d53ca97f7a5403352453761cf8bb827119e574a2dd</hash>\n",
        "      </verification>\n",
        "    </mm0:alternate>\n",
        "    <mm0:alternate>\n",
        "      <verification>\n",
        "       <hash type=\"sha256\">00ff</hash>\n",
        "      </verification>\n",
        "    </mm0:alternate>\n",
        "   </mm0:alternates>\n",
        "   <resources maxconnections=\"1\">\n",
    );
    assert!(doc.contains(expected_alternates), "{doc}");
    assert_well_formed(&doc);
}

#[test]
fn e57_no_alternates_no_hashes_no_hosts() {
    let file = MetalinkFile {
        name: "f",
        current: FileVersionRef {
            timestamp: 7,
            ..FileVersionRef::default()
        },
        alternates: &[],
    };
    let doc = render(|out| metalink3(out, NOW, &file, &[]));
    let body = doc.split_once("\n").unwrap().1.split_once("\n").unwrap().1;
    assert_eq!(
        body,
        concat!(
            " <files>\n",
            "  <file name=\"f\">\n",
            "   <mm0:timestamp>7</mm0:timestamp>\n",
            "   <verification>\n",
            "   </verification>\n",
            "   <resources maxconnections=\"1\">\n",
            "   </resources>\n",
            "  </file>\n",
            " </files>\n",
            "</metalink>\n",
        )
    );
    assert_well_formed(&doc);
}

#[test]
fn e58_private_host_and_shared_preference() {
    let corp_urls = [UrlParts {
        base: "http://mirror.corp.example.com/fedora/linux",
        subpath: REPODATA,
        file: Some("repomd.xml"),
    }];
    let hosts = [
        HostUrls {
            country: *b"se",
            private: true,
            urls: &corp_urls,
        },
        HostUrls {
            country: *b"SE",
            private: false,
            urls: EDU_URLS,
        },
    ];
    let doc = render(|out| metalink3(out, NOW, &REPOMD, &hosts));
    let expected = concat!(
        "   <resources maxconnections=\"1\">\n",
        "    <url protocol=\"http\" type=\"http\" location=\"SE\" preference=\"100\" mm0:private=\"True\">http://mirror.corp.example.com/fedora/linux/updates/40/Everything/x86_64/repodata/repomd.xml</url>\n",
        "    <url protocol=\"https\" type=\"https\" location=\"SE\" preference=\"99\">https://mirror.example.edu/fedora/linux/updates/40/Everything/x86_64/repodata/repomd.xml</url>\n",
        "    <url protocol=\"rsync\" type=\"rsync\" location=\"SE\" preference=\"99\">rsync://mirror.example.edu/fedora/linux/updates/40/Everything/x86_64/repodata/repomd.xml</url>\n",
        "   </resources>\n",
    );
    assert!(doc.contains(expected), "{doc}");
    assert_well_formed(&doc);
}

#[test]
fn e59_escaping_in_names_and_urls() {
    let urls = [UrlParts {
        base: "https://m.example/a&b<c",
        subpath: "d\"e",
        file: Some("x&y<z>.xml"),
    }];
    let hosts = [HostUrls {
        country: *b"DE",
        private: false,
        urls: &urls,
    }];
    let file = MetalinkFile {
        name: "x&y<z>\".xml",
        ..REPOMD
    };
    let v3 = render(|out| metalink3(out, NOW, &file, &hosts));
    assert!(
        v3.contains("  <file name=\"x&amp;y&lt;z&gt;&quot;.xml\">\n"),
        "{v3}"
    );
    assert!(
        v3.contains(">https://m.example/a&amp;b&lt;c/d%22e/x&amp;y%3Cz%3E.xml</url>\n"),
        "{v3}"
    );
    assert_well_formed(&v3);
    let v4 = render(|out| metalink4(out, NOW, &file, &hosts));
    assert!(
        v4.contains(" <file name=\"x&amp;y&lt;z&gt;&quot;.xml\">\n"),
        "{v4}"
    );
    assert!(
        v4.contains(">https://m.example/a&amp;b&lt;c/d%22e/x&amp;y%3Cz%3E.xml</url>\n"),
        "{v4}"
    );
    assert_well_formed(&v4);
}

#[test]
fn e59_comment_escaping_in_failure_documents() {
    let doc = render(|out| metalink_failure(out, false, NOW, &["a--b", "c-"]));
    assert!(
        doc.ends_with("<!-- a- -b\nc- \n-->\n</metalink>\n"),
        "{doc}"
    );
    assert_well_formed(&doc);
}

#[test]
fn e60_preference_by_position() {
    let urls = [UrlParts {
        base: "https://m.example",
        subpath: "",
        file: Some("f"),
    }];
    let hosts = vec![
        HostUrls {
            country: *b"US",
            private: false,
            urls: &urls
        };
        101
    ];
    let doc = render(|out| metalink3(out, NOW, &REPOMD, &hosts));
    let preferences: Vec<u32> = doc
        .lines()
        .filter_map(|l| l.split_once("preference=\""))
        .map(|(_, rest)| rest.split_once('"').unwrap().0.parse().unwrap())
        .collect();
    let mut expected: Vec<u32> = (1..=100).rev().collect();
    expected.push(1);
    assert_eq!(preferences, expected);
}

#[test]
fn e61_repo_disabled() {
    let v3 = render(|out| metalink_failure(out, false, NOW, &["repo disabled"]));
    assert_eq!(
        v3,
        concat!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n",
            "<metalink version=\"3.0\" xmlns=\"http://www.metalinker.org/\" type=\"dynamic\" pubdate=\"Wed, 25 Nov 2026 10:00:03 GMT\" generator=\"mirrormanager\" xmlns:mm0=\"http://fedorahosted.org/mirrormanager\">\n",
            "<!-- repo disabled\n",
            "-->\n",
            "</metalink>\n",
        )
    );
    assert_well_formed(&v3);
    let v4 = render(|out| metalink_failure(out, true, NOW, &["repo disabled"]));
    assert_eq!(
        v4,
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n",
            "<!-- repo disabled\n",
            "-->\n",
            "</metalink>\n",
        )
    );
    assert_well_formed(&v4);
}

#[test]
fn e61_multi_line_message_and_trailing_empty_line() {
    let doc = render(|out| metalink_failure(out, true, NOW, &["one", "two", ""]));
    assert!(
        doc.ends_with("<!-- one\ntwo\n\n-->\n</metalink>\n"),
        "{doc}"
    );
}

#[test]
fn e36_unknown_repository() {
    let mut available = Vec::new();
    available_list(
        &mut available,
        [("fedora--x", "x86_64"), ("fedora-40", "aarch64")],
    );
    assert_eq!(
        available,
        b"# repo=fedora--x&arch=x86_64\n# repo=fedora-40&arch=aarch64\n"
    );

    let doc = render(|out| metalink_unknown_repo(out, false, NOW, "nope", "x86_64", &available));
    assert!(
        doc.ends_with(concat!(
            "\">\n<!-- # repo = nope arch = x86_64 error: invalid repo or arch\n",
            "# following repositories are available:\n",
            "# repo=fedora- -x&arch=x86_64\n",
            "# repo=fedora-40&arch=aarch64\n",
            "\n-->\n</metalink>\n",
        )),
        "{doc}"
    );
    assert_well_formed(&doc);
    let empty = render(|out| metalink_unknown_repo(out, true, NOW, "nope", "x86_64", b""));
    assert!(
        empty.ends_with("available:\n\n-->\n</metalink>\n"),
        "{empty}"
    );

    let plain = render(|out| mirrorlist_unknown_repo(out, "nope", "x86_64", &available));
    assert_eq!(
        plain,
        concat!(
            "# repo = nope arch = x86_64 error: invalid repo or arch\n",
            "# following repositories are available:\n",
            "# repo=fedora--x&arch=x86_64\n",
            "# repo=fedora-40&arch=aarch64\n",
        )
    );
}

#[test]
fn e62_layout_metalink4() {
    let doc = render(|out| metalink4(out, NOW, &REPOMD, EDU));
    let expected = format!(
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<metalink xmlns=\"urn:ietf:params:xml:ns:metalink\">\n",
            " <generator>mirrorfleet</generator>\n",
            " <published>2026-11-25T10:00:03Z</published>\n",
            " <file name=\"repomd.xml\">\n",
            "  <size>5120</size>\n",
            "  <hash type=\"md5\">{md5}</hash>\n",
            "  <hash type=\"sha-1\">{sha1}</hash>\n",
            "  <hash type=\"sha-256\">{sha256}</hash>\n",
            "  <hash type=\"sha-512\">{sha512}</hash>\n",
            "  <url location=\"se\" priority=\"1\">https://mirror.example.edu/fedora/linux/updates/40/Everything/x86_64/repodata/repomd.xml</url>\n",
            "  <url location=\"se\" priority=\"1\">rsync://mirror.example.edu/fedora/linux/updates/40/Everything/x86_64/repodata/repomd.xml</url>\n",
            " </file>\n",
            "</metalink>\n",
        ),
        md5 = MD5,
        sha1 = SHA1,
        sha256 = SHA256,
        sha512 = SHA512,
    );
    assert_eq!(doc, expected);
    assert_well_formed(&doc);
}

#[test]
fn e62_priority_by_position_no_size_no_private_flag() {
    let urls = [UrlParts {
        base: "https://m.example",
        subpath: "",
        file: Some("f"),
    }];
    let hosts = [
        HostUrls {
            country: *b"DE",
            private: true,
            urls: &urls,
        },
        HostUrls {
            country: *b"FR",
            private: false,
            urls: &urls,
        },
    ];
    let file = MetalinkFile {
        name: "f",
        current: FileVersionRef {
            timestamp: 5,
            sha256: Some("ab"),
            ..FileVersionRef::default()
        },
        alternates: ALTERNATES,
    };
    let doc = render(|out| metalink4(out, NOW, &file, &hosts));
    assert!(
        doc.ends_with(concat!(
            " <file name=\"f\">\n",
            "  <hash type=\"sha-256\">ab</hash>\n",
            "  <url location=\"de\" priority=\"1\">https://m.example/f</url>\n",
            "  <url location=\"fr\" priority=\"2\">https://m.example/f</url>\n",
            " </file>\n",
            "</metalink>\n",
        )),
        "{doc}"
    );
    assert_well_formed(&doc);
}

/// The §10.3 example, verbatim: the private netblock host, then mirror.example.edu.
#[test]
fn e63_spec_example_mirrorlist() {
    let os = "releases/40/Everything/x86_64/os";
    let corp = [UrlParts {
        base: "http://mirror.corp.example.com/fedora/linux",
        subpath: os,
        file: None,
    }];
    let edu = [UrlParts {
        base: "https://mirror.example.edu/fedora/linux",
        subpath: os,
        file: None,
    }];
    let hosts = [
        HostUrls {
            country: *b"SE",
            private: true,
            urls: &corp,
        },
        HostUrls {
            country: *b"SE",
            private: false,
            urls: &edu,
        },
    ];
    let header = MirrorlistHeader {
        identity: Identity::Repo {
            repo: "fedora-40",
            arch: "x86_64",
        },
        words: &[
            TierWord::PreferredNetblock,
            TierWord::Country(*b"SE"),
            TierWord::Global,
        ],
        protocols: None,
    };
    let list = render(|out| mirrorlist(out, &header, None, &hosts));
    assert_eq!(
        list,
        concat!(
            "# repo = fedora-40 arch = x86_64 Using preferred netblock country = SE country = global \n",
            "http://mirror.corp.example.com/fedora/linux/releases/40/Everything/x86_64/os/\n",
            "https://mirror.example.edu/fedora/linux/releases/40/Everything/x86_64/os/\n",
        )
    );
}

#[test]
fn e63_path_identity_asn_protocol_and_time() {
    let urls = [
        UrlParts {
            base: "https://m.example/pub",
            subpath: "",
            file: Some("a b#.iso"),
        },
        UrlParts {
            base: "rsync://m.example/pub",
            subpath: "",
            file: Some("a b#.iso"),
        },
    ];
    let hosts = [HostUrls {
        country: *b"DE",
        private: false,
        urls: &urls,
    }];
    let header = MirrorlistHeader {
        identity: Identity::Path("pub/x"),
        words: &[TierWord::Asn(64_496), TierWord::Country(*b"de")],
        protocols: Some(&["https", "rsync"]),
    };
    let list = render(|out| mirrorlist(out, &header, Some(1_795_600_000), &hosts));
    assert_eq!(
        list,
        concat!(
            "# path = pub/x Using ASN 64496 country = DE protocol = https,rsync\n",
            "# database creation time: 1795600000\n",
            "https://m.example/pub/a%20b%23.iso\n",
            "rsync://m.example/pub/a%20b%23.iso\n",
        )
    );
}

#[test]
fn e33_known_directory_no_mirror_plain_list() {
    let header = MirrorlistHeader {
        identity: Identity::Repo {
            repo: "r",
            arch: "a",
        },
        words: &[],
        protocols: None,
    };
    assert_eq!(
        render(|out| mirrorlist(out, &header, None, &[])),
        "# repo = r arch = a \n"
    );
}

#[test]
fn e64_plain_error_lines() {
    let text = render(|out| {
        mirrorlist_failure(out, &["error: no snapshot loaded yet; try again shortly"])
    });
    assert_eq!(text, "error: no snapshot loaded yet; try again shortly\n");
}
