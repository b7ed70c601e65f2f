//! Field rules of data-model.md §1–§4 and §11.1 beyond the rows of §11.3:
//! names, files, lists, policy, patterns, one broken variant each.

use super::{Row, check};

/// Further field rules of data-model.md §1–§4 and §11.1 that §11.3 does not
/// list one by one (names, files, lists, policy, patterns).
const FIELD_RULES: &[Row] = &[
    Row {
        name: "arch names and fields",
        from: "\"arches\": [\"x86_64\", \"aarch64\", \"source\"]",
        to: "\"arches\": [\"x86_64\", \"aarch64\", \"Source\", {\"name\": \"ppc64le\", \"primry\": true}]",
        want: &[
            "inventory.json:9:35: /arches/2: \"Source\" is not a valid arch name: use only lower-case letters, digits and \"_\"",
            "inventory.json:9:65: /arches/3/primry: unknown field \"primry\"; did you mean \"primary\"?",
        ],
    },
    Row {
        name: "unknown product",
        from: "\"product\": \"Fedora\"",
        to: "\"product\": \"Fedra\"",
        want: &["inventory.json:11:42: /categories/0/product: unknown product \"Fedra\""],
    },
    Row {
        name: "repomd without dir",
        from: "\"dir\": \"9/Everything/x86_64\",",
        to: "",
        want: &[
            "inventory.json:37:17: /repositories/3/repomd: a repository without \"dir\" has no repomd.xml; give \"dir\" or drop \"repomd\"",
            "inventory.json:53:87: /sites/0/hosts/0/categories/Fedora EPEL/up2date/0: \"9/**\" matches no directory of category \"Fedora EPEL\"",
        ],
    },
    Row {
        name: "netblock countries and files",
        from: "\"continent_overrides\": { \"IL\": \"EU\" },",
        to: "\"continent_overrides\": { \"IL\": \"EU\" }, \"netblock_countries\": { \"10.0.0.0/8\": \"SE\", \"10.0.0.0/255.0.0.0\": \"NO\", \"10.1.0.1/8\": \"se\", \"example.com\": \"SE\" }, \"files\": [ { \"category\": \"Fedora EPEL\", \"dir\": \"9/Everything/x86_64/repodata\", \"name\": \"repomd.xml\", \"history\": [] }, { \"category\": \"Fedora EPEL\", \"dir\": \"9\", \"name\": \"a/b\", \"history\": [ { \"timestamp\": -1, \"size\": 1.5, \"md5\": \"EB1DD1E55C9E393CE8934774838B09D2\" } ] } ],",
        want: &[
            "inventory.json:43:86: /netblock_countries/10.0.0.0~1255.0.0.0: \"10.0.0.0/255.0.0.0\" is the same network as /netblock_countries/10.0.0.0~18",
            "inventory.json:43:114: /netblock_countries/10.1.0.1~18: \"10.1.0.1/8\" has host bits set; did you mean \"10.0.0.0/8\"?",
            "inventory.json:43:128: /netblock_countries/10.1.0.1~18: \"se\" is not an ISO 3166-1 alpha-2 code (did you mean \"SE\"?)",
            "inventory.json:43:134: /netblock_countries/example.com: \"example.com\" is not an IP network",
            "inventory.json:43:244: /files/0/name: this is the repomd.xml of /repositories/3; give its versions in its \"repomd\"",
            "inventory.json:43:269: /files/0/history: a file needs at least one version in \"history\"",
            "inventory.json:43:324: /files/1/name: \"a/b\" is a path; a file name has no \"/\"",
            "inventory.json:43:344: /files/1/history/0: without \"sha256\" or \"sha512\" dnf cannot check this version",
            "inventory.json:43:359: /files/1/history/0/timestamp: -1 is out of range 0–9223372036854775807",
            "inventory.json:43:371: /files/1/history/0/size: expected an integer, found a number",
            "inventory.json:43:383: /files/1/history/0/md5: write the digest in lower case: \"eb1dd1e55c9e393ce8934774838b09d2\"",
        ],
    },
    Row {
        name: "owners and control characters",
        from: "\"owners\": [\"alice\"]",
        to: "\"owners\": [\"Alice\", \"bob\", \"bob\"], \"comment\": \"tab\\there\"",
        want: &[
            "inventory.json:45:86: /sites/0/owners/0: \"Alice\" is not a valid username: use 2–32 lower-case letters, digits, \".\", \"_\" and \"-\", starting with a letter or digit",
            "inventory.json:45:102: /sites/0/owners/2: duplicates /sites/0/owners/1",
            "inventory.json:45:121: /sites/0/comment: contains the control character U+0009; remove it",
        ],
    },
    Row {
        name: "host fields",
        from: "\"name\": \"mirror.example.edu\"",
        to: "\"name\": \"mirror example.edu\", \"latitude\": 91, \"max_connections\": 101, \"peer_asns\": [64501, 64501], \"contact_email\": \"nobody\", \"auto_disabled_at\": \"yesterday\"",
        want: &[
            "inventory.json:47:19: /sites/0/hosts/0/name: \"mirror example.edu\" is not a valid host name: use only letters, digits, \".\", \"_\" and \"-\"",
            "inventory.json:47:53: /sites/0/hosts/0/latitude: 91 is out of range -90–90",
            "inventory.json:47:76: /sites/0/hosts/0/max_connections: 101 is out of range 1–100",
            "inventory.json:47:102: /sites/0/hosts/0/peer_asns/1: duplicates /sites/0/hosts/0/peer_asns/0",
            "inventory.json:47:127: /sites/0/hosts/0/contact_email: \"nobody\" is not an email address",
            "inventory.json:47:157: /sites/0/hosts/0/auto_disabled_at: \"yesterday\" is not an RFC 3339 time such as \"2024-11-25T10:00:00Z\"",
        ],
    },
    Row {
        name: "policy and generator",
        from: "\"policy\": { \"min_mirrors\": 5, \"max_hosts\": 100 }",
        to: "\"policy\": { \"min_mirrors\": -1, \"max_host\": 100 }, \"generator\": 5",
        want: &[
            "inventory.json:4:30: /policy/min_mirrors: -1 is out of range 0–4294967295",
            "inventory.json:4:34: /policy/max_host: unknown field \"max_host\"; did you mean \"max_hosts\"?",
            "inventory.json:4:66: /generator: expected a string, found an integer",
        ],
    },
    Row {
        name: "patterns and private URLs",
        from: "\"up2date\": [\"9/**\"]",
        to: "\"up2date\": [\"9/*\", \"/9\", \"\", \"**\", \"9/Everything/**\"], \"private_urls\": [\"https://mirror.example.edu/epel\"]",
        want: &[
            "inventory.json:53:87: /sites/0/hosts/0/categories/Fedora EPEL/up2date/0: \"9/*\" is not a pattern: write \"a/b\", \"a/b/**\", \"**\" or \"\"",
            "inventory.json:53:94: /sites/0/hosts/0/categories/Fedora EPEL/up2date/1: \"/9\" must be relative to the category topdir (no leading \"/\")",
            "inventory.json:53:147: /sites/0/hosts/0/categories/Fedora EPEL/private_urls/0: duplicates /sites/0/hosts/0/categories/Fedora EPEL/urls/0",
        ],
    },
    Row {
        name: "bad topdir",
        from: "\"topdir\": \"pub/epel\"",
        to: "\"topdir\": \"/pub/epel/\"",
        want: &[
            "inventory.json:12:59: /categories/1/topdir: \"/pub/epel/\" must not start with \"/\"",
        ],
    },
    Row {
        name: "prefix of the wrong type",
        from: "\"prefix\": \"epel-9\"",
        to: "\"prefix\": 9",
        want: &[
            "inventory.json:35:17: /repositories/3/prefix: expected a string or null, found an integer",
            "inventory.json:41:35: /repo_redirects/epel-9.4: target \"epel-9\" has no repository",
        ],
    },
    Row {
        name: "disabled prefixes",
        from: "\"disabled_repos\": [ { \"prefix\": \"fedora-39\", \"reason\": \"end of life\" } ]",
        to: "\"disabled_repos\": [ { \"prefix\": \"fedora-39\" }, { \"prefix\": \"fedora-39\" }, { \"prefix\": \"fedora 38\" } ]",
        want: &[
            "inventory.json:42:62: /disabled_repos/1/prefix: prefix \"fedora-39\" is already disabled at /disabled_repos/0",
            "inventory.json:42:89: /disabled_repos/2/prefix: \"fedora 38\" is not a valid repository prefix: use only letters, digits, \".\", \"_\" and \"-\"",
        ],
    },
    Row {
        name: "version entries",
        from: "{ \"name\": \"Fedora\", \"versions\": [\"40\"] }",
        to: "{ \"name\": \"Fedora\", \"versions\": [\"40\", {\"name\": \"41\", \"sort_order\": 3000000000}, 5] }",
        want: &[
            "inventory.json:6:73: /products/0/versions/1/sort_order: 3000000000 is out of range -2147483648–2147483647",
            "inventory.json:6:86: /products/0/versions/2: expected a string or an object, found an integer",
        ],
    },
];

#[test]
fn every_field_rule_is_reported_exactly() {
    check(FIELD_RULES, true);
}
