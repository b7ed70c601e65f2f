//! One broken variant of the example per row of data-model.md §11.3, with
//! the exact diagnostics it must produce.

use super::{EXAMPLE, Row, check, example, mutate, problems};
use crate::inventory::{Netblock, Pattern, Severity, parse_inventory};

const ERRORS: &[Row] = &[
    Row {
        name: "not JSON",
        from: "\"format_version\": 1,",
        to: "\"format_version\": 1",
        want: &["inventory.json:4:3: expected ',' or '}' after an object member"],
    },
    Row {
        name: "wrong format version",
        from: "\"format_version\": 1,",
        to: "\"format_version\": 2,",
        want: &[
            "inventory.json:3:21: /format_version: unsupported inventory format version 2 (this build reads 1)",
        ],
    },
    Row {
        name: "wrong format",
        from: "\"mirrorfleet-inventory\"",
        to: "\"mirrorfleet-inventar\"",
        want: &[
            "inventory.json:2:13: /format: unsupported inventory format \"mirrorfleet-inventar\" (this build reads \"mirrorfleet-inventory\")",
        ],
    },
    Row {
        name: "unknown key",
        from: "\"bandwidth\": 1000,",
        to: "\"bandwith\": 1000,",
        want: &[
            "inventory.json:56:58: /sites/1/hosts/0/bandwith: unknown field \"bandwith\"; did you mean \"bandwidth\"?",
        ],
    },
    Row {
        name: "duplicate key",
        from: "\"bandwidth\": 1000,",
        to: "\"bandwidth\": 1000, \"country\": \"CA\",",
        want: &[
            "inventory.json:56:77: /sites/1/hosts/0/country: duplicate key \"country\" (first at line 56)",
        ],
    },
    Row {
        name: "missing required key",
        from: "\"country\": \"US\", ",
        to: "",
        want: &["inventory.json:56:9: /sites/1/hosts/0: missing field \"country\""],
    },
    Row {
        name: "missing top-level section",
        from: "  \"arches\": [\"x86_64\", \"aarch64\", \"source\"],\n",
        to: "",
        want: &[
            "inventory.json:1:1: missing field \"arches\"",
            "inventory.json:14:38: /repositories/0/arch: unknown arch \"x86_64\"",
            "inventory.json:19:38: /repositories/1/arch: unknown arch \"aarch64\"",
            "inventory.json:24:49: /repositories/2/arch: unknown arch \"x86_64\"",
            "inventory.json:34:35: /repositories/3/arch: unknown arch \"x86_64\"",
        ],
    },
    Row {
        name: "wrong type",
        from: "\"bandwidth\": 1000,",
        to: "\"bandwidth\": \"1000\",",
        want: &[
            "inventory.json:56:71: /sites/1/hosts/0/bandwidth: expected an integer, found a string",
        ],
    },
    Row {
        name: "duplicate natural key",
        from: "\"name\": \"Example University\"",
        to: "\"name\": \"Example Corp\"",
        want: &[
            "inventory.json:62:15: /sites/2/name: site name \"Example Corp\" is already used at /sites/0",
        ],
    },
    Row {
        name: "duplicate natural key, case-insensitive",
        from: "{ \"name\": \"EPEL\", \"versions\": [\"9\"] }",
        to: "{ \"name\": \"fedora\", \"versions\": [\"9\", \"9\"] }",
        want: &[
            "inventory.json:7:15: /products/1/name: product name \"fedora\" is already used at /products/0",
            "inventory.json:7:43: /products/1/versions/1: version name \"9\" is already used at /products/1/versions/0",
            "inventory.json:12:41: /categories/1/product: unknown product \"EPEL\"",
        ],
    },
    Row {
        name: "invalid country",
        from: "\"country\": \"SE\"",
        to: "\"country\": \"UK\"",
        want: &[
            "inventory.json:47:52: /sites/0/hosts/0/country: \"UK\" is not an ISO 3166-1 alpha-2 code (did you mean \"GB\"?)",
        ],
    },
    Row {
        name: "invalid country in a list",
        from: "[\"US\", \"CA\"]",
        to: "[\"US\", \"ca\", \"US\"]",
        want: &[
            "inventory.json:57:39: /sites/1/hosts/0/allowed_countries/1: \"ca\" is not an ISO 3166-1 alpha-2 code (did you mean \"CA\"?)",
            "inventory.json:57:45: /sites/1/hosts/0/allowed_countries/2: duplicates /sites/1/hosts/0/allowed_countries/0",
        ],
    },
    Row {
        name: "out of range",
        from: "\"bandwidth\": 1000,",
        to: "\"bandwidth\": 0,",
        want: &[
            "inventory.json:56:71: /sites/1/hosts/0/bandwidth: 0 is out of range 1–1000000 (Mbit/s)",
        ],
    },
    Row {
        name: "out of range: continent",
        from: "{ \"IL\": \"EU\" }",
        to: "{ \"IL\": \"EUR\" }",
        want: &[
            "inventory.json:43:34: /continent_overrides/IL: \"EUR\" is not one of AF, AN, AS, EU, NA, OC, SA",
        ],
    },
    Row {
        name: "invalid URL",
        from: "\"https://mirror.example.edu/epel\"",
        to: "\"https//mirror.example.edu/epel\"",
        want: &[
            "inventory.json:53:39: /sites/0/hosts/0/categories/Fedora EPEL/urls/0: \"https//mirror.example.edu/epel\" is not an absolute URL",
        ],
    },
    Row {
        name: "scheme not served",
        from: "\"rsync://mirror.example.edu/fedora/linux\"",
        to: "\"gopher://mirror.example.edu/fedora/linux\"",
        want: &[
            "inventory.json:51:40: /sites/0/hosts/0/categories/Fedora Linux/urls/1: scheme \"gopher\" is not one of https, http, ftp, rsync",
        ],
    },
    Row {
        name: "URL with a query",
        from: "\"https://mirror.example.edu/epel\"",
        to: "\"https://mirror.example.edu/epel?query\"",
        want: &[
            "inventory.json:53:39: /sites/0/hosts/0/categories/Fedora EPEL/urls/0: a mirror URL must not contain \"?query\"",
        ],
    },
    Row {
        name: "URL with user info",
        from: "\"https://mirror.example.edu/epel\"",
        to: "\"https://anon:secret@mirror.example.edu/epel\"",
        want: &[
            "inventory.json:53:39: /sites/0/hosts/0/categories/Fedora EPEL/urls/0: a mirror URL must not contain \"anon:secret@\"",
        ],
    },
    Row {
        name: "URL with a trailing slash",
        from: "\"https://mirror.example.edu/epel\"",
        to: "\"https://mirror.example.edu/epel/\"",
        want: &[
            "inventory.json:53:39: /sites/0/hosts/0/categories/Fedora EPEL/urls/0: \"https://mirror.example.edu/epel/\" must not end with \"/\"",
        ],
    },
    Row {
        name: "URL with an upper-case host",
        from: "\"https://mirror.example.edu/epel\"",
        to: "\"https://Mirror.Example.edu/epel\"",
        want: &[
            "inventory.json:53:39: /sites/0/hosts/0/categories/Fedora EPEL/urls/0: scheme and host must be lower case: write \"https://mirror.example.edu/epel\"",
        ],
    },
    Row {
        name: "duplicate URL in a host category",
        from: "\"rsync://mirror.example.edu/fedora/linux\"]",
        to: "\"rsync://mirror.example.edu/fedora/linux\", \"https://mirror.example.edu/fedora/linux\"]",
        want: &[
            "inventory.json:51:83: /sites/0/hosts/0/categories/Fedora Linux/urls/2: duplicates /sites/0/hosts/0/categories/Fedora Linux/urls/0",
        ],
    },
    Row {
        name: "invalid netblock: host bits",
        from: "\"198.51.100.0/24\"",
        to: "\"198.51.100.7/24\"",
        want: &[
            "inventory.json:65:25: /sites/2/hosts/0/netblocks/0: \"198.51.100.7/24\" has host bits set; did you mean \"198.51.100.0/24\"?",
        ],
    },
    Row {
        name: "invalid netblock: neither network nor name",
        from: "[\"192.0.2.0/24\"]",
        to: "[\"192.0.2.0/24\", \"300.1.1.1\"]",
        want: &[
            "inventory.json:48:55: /sites/0/hosts/0/netblocks/1: \"300.1.1.1\" is neither an IP network nor a DNS name",
        ],
    },
    Row {
        name: "invalid ASN",
        from: "\"asn\": 64500,",
        to: "\"asn\": 0,",
        want: &[
            "inventory.json:48:18: /sites/0/hosts/0/asn: 0 is not a valid AS number (1–4294967294, not 23456)",
        ],
    },
    Row {
        name: "invalid ASN: AS_TRANS",
        from: "\"asn\": 64500,",
        to: "\"asn\": 23456,",
        want: &[
            "inventory.json:48:18: /sites/0/hosts/0/asn: 23456 is not a valid AS number (1–4294967294, not 23456)",
        ],
    },
    Row {
        name: "unknown reference: category",
        from: "\"updates-released-f40\", \"arch\": \"x86_64\", \"category\": \"Fedora Linux\"",
        to: "\"updates-released-f40\", \"arch\": \"x86_64\", \"category\": \"Fedora Linx\"",
        want: &[
            "inventory.json:25:71: /repositories/2/category: unknown category \"Fedora Linx\"",
            "inventory.json:68:61: /sites/2/hosts/0/categories/Fedora Linux/up2date/1: \"updates/40/**\" matches no directory of category \"Fedora Linux\"",
        ],
    },
    Row {
        name: "unknown reference: version",
        from: "\"version\": \"40\",\n      \"dir\": \"releases/40/Everything/x86_64/os\"",
        to: "\"version\": \"41\",\n      \"dir\": \"releases/40/Everything/x86_64/os\"",
        want: &[
            "inventory.json:15:87: /repositories/0/version: unknown version \"41\" of product \"Fedora\"",
        ],
    },
    Row {
        name: "unknown reference: host category",
        from: "\"Fedora EPEL\": { \"urls\": [\"https://mirror.example.edu/epel\"]",
        to: "\"Fedora Other\": { \"urls\": [\"https://mirror.example.edu/epel\"]",
        want: &[
            "inventory.json:53:13: /sites/0/hosts/0/categories/Fedora Other: the inventory has no category \"Fedora Other\"",
        ],
    },
    Row {
        name: "invalid path: leading slash",
        from: "\"dir\": \"releases/40/Everything/x86_64/os\"",
        to: "\"dir\": \"/releases/40/Everything/x86_64/os\"",
        want: &[
            "inventory.json:16:14: /repositories/0/dir: \"/releases/40/Everything/x86_64/os\" must be relative to the category topdir (no leading \"/\")",
        ],
    },
    Row {
        name: "invalid path: dot-dot",
        from: "\"dir\": \"releases/40/Everything/aarch64/os\"",
        to: "\"dir\": \"releases/40/Everything/../os\"",
        want: &["inventory.json:21:14: /repositories/1/dir: \"..\" is not allowed"],
    },
    Row {
        name: "duplicate topdir",
        from: "\"topdir\": \"pub/epel\"",
        to: "\"topdir\": \"pub/fedora/linux\"",
        want: &[
            "inventory.json:12:59: /categories/1/topdir: \"pub/fedora/linux\" is already the topdir of \"Fedora Linux\"",
        ],
    },
    Row {
        name: "duplicate repository: prefix and arch",
        from: "\"prefix\": \"fedora-40\", \"arch\": \"aarch64\"",
        to: "\"prefix\": \"fedora-40\", \"arch\": \"x86_64\"",
        want: &[
            "inventory.json:20:5: /repositories/1: prefix \"fedora-40\" with arch \"x86_64\" is already at /repositories/0",
        ],
    },
    Row {
        name: "duplicate repository: directory",
        from: "\"dir\": \"releases/40/Everything/aarch64/os\"",
        to: "\"dir\": \"releases/40/Everything/x86_64/os\"",
        want: &[
            "inventory.json:21:14: /repositories/1/dir: directory already used by /repositories/0",
        ],
    },
    Row {
        name: "pattern matches nothing",
        from: "\"up2date\": [\"9/**\"]",
        to: "\"up2date\": [\"8/**\"]",
        want: &[
            "inventory.json:53:87: /sites/0/hosts/0/categories/Fedora EPEL/up2date/0: \"8/**\" matches no directory of category \"Fedora EPEL\"",
        ],
    },
    Row {
        name: "contradiction",
        from: "\"always_up2date\": true }",
        to: "\"always_up2date\": true, \"up2date\": [\"9/**\"] }",
        want: &[
            "inventory.json:69:28: /sites/2/hosts/0/categories/Fedora EPEL: \"always_up2date\" is true and \"up2date\" is also given",
        ],
    },
    Row {
        name: "redirect to itself",
        from: "{ \"epel-9.4\": \"epel-9\" }",
        to: "{ \"epel-9.4\": \"epel-9.4\" }",
        want: &[
            "inventory.json:41:35: /repo_redirects/epel-9.4: target \"epel-9.4\" is the alias itself",
        ],
    },
    Row {
        name: "redirect chain",
        from: "{ \"epel-9.4\": \"epel-9\" }",
        to: "{ \"epel-9.4\": \"epel-9\", \"epel-9\": \"epel-9.0\" }",
        want: &[
            "inventory.json:41:35: /repo_redirects/epel-9.4: chain: \"epel-9\" is itself redirected",
            "inventory.json:41:55: /repo_redirects/epel-9: target \"epel-9.0\" has no repository",
        ],
    },
    Row {
        name: "bad digest",
        from: "741bd5e4\"",
        to: "741bd5e\"",
        want: &[
            "inventory.json:19:21: /repositories/0/repomd/0/sha256: expected 64 hexadecimal digits, found 63",
        ],
    },
    Row {
        name: "no digest",
        from: "\"size\": 5098,\n          \"sha256\": \"05215df3ff853004ea9668d53ca97f7a5403352453761cf8bb827119e574a2dd\" }",
        to: "\"size\": 5098 }",
        want: &[
            "inventory.json:33:9: /repositories/2/repomd/1: a file version needs at least one of \"md5\", \"sha1\", \"sha256\", \"sha512\"",
        ],
    },
    Row {
        name: "duplicate file version",
        from: "\"sha256\": \"0a427eacd126174c038a013a1eafbfe513e361ef8da734f65a669a5dd98c3174\" }",
        to: "\"sha256\": \"0a427eacd126174c038a013a1eafbfe513e361ef8da734f65a669a5dd98c3174\" },\n        { \"size\": 3990, \"timestamp\": 1732500000, \"sha256\": \"0a427eacd126174c038a013a1eafbfe513e361ef8da734f65a669a5dd98c3174\" }",
        want: &[
            "inventory.json:40:9: /repositories/3/repomd/1: identical to /repositories/3/repomd/0",
        ],
    },
];

const WARNINGS: &[Row] = &[
    Row {
        name: "private host nobody can reach",
        from: "          \"netblocks\": [\"198.51.100.0/24\", \"2001:db8:1000::/36\"],\n",
        to: "",
        want: &[
            "inventory.json:64:9: /sites/2/hosts/0: private host has no netblock, ASN or peer ASN; no client will ever get it",
        ],
    },
    Row {
        name: "no strong digest",
        from: "\"sha256\": \"05215df3ff853004ea9668d53ca97f7a5403352453761cf8bb827119e574a2dd\"",
        to: "\"md5\": \"eb1dd1e55c9e393ce8934774838b09d3\"",
        want: &[
            "inventory.json:33:9: /repositories/2/repomd/1: without \"sha256\" or \"sha512\" dnf cannot check this version",
        ],
    },
    Row {
        name: "host category that carries nothing",
        from: "\"always_up2date\": true }",
        to: "\"always_up2date\": false }",
        want: &[
            "inventory.json:69:28: /sites/2/hosts/0/categories/Fedora EPEL: no \"up2date\" and not \"always_up2date\"; the host carries nothing here",
        ],
    },
    Row {
        name: "redirect target unknown",
        from: "{ \"epel-9.4\": \"epel-9\" }",
        to: "{ \"fedora-rawhide\": \"rawhide\" }",
        want: &[
            "inventory.json:41:41: /repo_redirects/fedora-rawhide: target \"rawhide\" has no repository",
        ],
    },
];

#[test]
fn the_example_is_valid_and_clean() {
    let inv = example();
    assert_eq!(inv.sites.len(), 3);
    assert_eq!(inv.repositories.len(), 4);
    let host = &inv.sites[0].hosts[0];
    assert_eq!(host.max_connections, 1);
    assert!(host.asn_clients && host.admin_active && !host.private);
    assert_eq!(host.categories[1].up2date, [Pattern::Subtree("9".into())]);
    let corp = &inv.sites[2].hosts[0];
    assert_eq!(corp.netblocks.len(), 2);
    assert!(matches!(corp.netblocks[0], Netblock::Network(_)));
    assert!(corp.categories[1].always_up2date);
    assert_eq!(inv.effective_policy().min_mirrors, 5);
    assert_eq!(
        inv.repo_redirects.get("epel-9.4").map(String::as_str),
        Some("epel-9")
    );
}

#[test]
fn every_error_row_is_reported_exactly() {
    check(ERRORS, true);
}

#[test]
fn every_warning_row_is_reported_exactly() {
    check(WARNINGS, false);
}

#[test]
fn warnings_come_with_the_inventory() {
    let text = mutate("\"always_up2date\": true }", "\"always_up2date\": false }");
    let (inv, warnings) = parse_inventory("inventory.json", &text).expect("only a warning");
    assert_eq!(inv.sites.len(), 3);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].severity, Severity::Warning);
    assert_eq!((warnings[0].line, warnings[0].column), (69, 28));
}

#[test]
fn problems_are_sorted_and_all_reported() {
    let text = EXAMPLE
        .replacen("\"bandwidth\": 10000", "\"bandwidth\": 10000000", 1)
        .replacen(
            "\"format_version\": 1,",
            "\"format_version\": 1, \"extra\": 1,",
            1,
        );
    let got = problems(&text);
    assert_eq!(
        got,
        [
            "inventory.json:3:24: /extra: unknown field \"extra\"",
            "inventory.json:47:71: /sites/0/hosts/0/bandwidth: 10000000 is out of range 1–1000000 (Mbit/s)",
        ]
    );
}

#[test]
fn lenient_netblocks_and_dns_names() {
    let text = mutate(
        "[\"192.0.2.0/24\"]",
        "[\"192.0.2.0/255.255.255.0\", \"192.0.2.9\", \"Mirror-Nets.example.edu\", \"mirror-nets.example.edu\"]",
    );
    assert_eq!(
        problems(&text),
        [
            "inventory.json:48:106: /sites/0/hosts/0/netblocks/3: duplicates /sites/0/hosts/0/netblocks/2"
        ]
    );
    let text = mutate(
        "[\"192.0.2.0/24\"]",
        "[\"192.0.2.0/255.255.255.0\", \"192.0.2.9\", \"mirror-nets.example.edu\"]",
    );
    let (inv, _) = parse_inventory("inventory.json", &text).expect("valid");
    let netblocks: Vec<String> = inv.sites[0].hosts[0]
        .netblocks
        .iter()
        .map(|n| match n {
            Netblock::Network(p) => p.to_string(),
            Netblock::DnsName(name) => name.clone(),
        })
        .collect();
    assert_eq!(
        netblocks,
        ["192.0.2.0/24", "192.0.2.9/32", "mirror-nets.example.edu"]
    );
}

#[test]
fn the_limit_is_two_hundred() {
    let many: Vec<String> = (0..300).map(|i| format!("\"x{i}\": 1")).collect();
    let text = EXAMPLE.replacen(
        "\"format_version\": 1,",
        &format!("\"format_version\": 1, {},", many.join(", ")),
        1,
    );
    assert_eq!(problems(&text).len(), 200);
}

#[test]
fn the_root_must_be_an_object() {
    assert_eq!(
        problems("[]"),
        ["inventory.json:1:1: expected an object, found an array"]
    );
}

#[test]
fn references_match_names_as_the_database_does() {
    // Product and category names are unique after lower-casing, so a
    // reference in another case finds them; arch names are exact.
    let text = mutate("\"product\": \"EPEL\"", "\"product\": \"Epel\"");
    assert_eq!(problems(&text), Vec::<String>::new());
    let text = mutate(
        "\"Fedora EPEL\": { \"urls\": [\"https://mirror.example.edu/epel\"]",
        "\"fedora epel\": { \"urls\": [\"https://mirror.example.edu/epel\"]",
    );
    assert_eq!(problems(&text), Vec::<String>::new());
    let text = mutate(
        "\"prefix\": \"epel-9\", \"arch\": \"x86_64\"",
        "\"prefix\": \"epel-9\", \"arch\": \"X86_64\"",
    );
    assert_eq!(
        problems(&text),
        ["inventory.json:35:35: /repositories/3/arch: unknown arch \"X86_64\""]
    );
}
