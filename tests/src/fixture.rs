//! The shared fixture of the edge protocol tests (edge-protocol.md §18): a snapshot built from
//! the inventory of data-model.md §11.2, a GeoIP file, a prefix→ASN table and an edge
//! configuration, and a real `mirrorfleet-edge` serving them on 127.0.0.1.
//!
//! # The standard fixture ([`Fixture::new`])
//!
//! - Inventory: `examples/inventory.json` (DM §11.2) with policy `min_mirrors` 5, `max_hosts`
//!   100. Host ids (sites, then hosts, in byte order): 1 = [`HOST_DE_PRIVATE`] (DE, private,
//!   netblocks 198.51.100.0/24 and 2001:db8:1000::/36), 2 = [`HOST_US`] (US, allows US and CA
//!   only), 3 = [`HOST_SE`] (SE, AS 64500, netblock 192.0.2.0/24).
//! - Snapshot version [`SNAPSHOT_VERSION`] (1204), `created_at` [`CREATED_AT`], installation id
//!   that of `mirrorfleet snapshot build` (built in-process with `mirrorfleet_control`).
//! - GeoIP ([`STANDARD_GEOIP`]): 192.0.2.0/24 SE, 203.0.113.0/24 US, 198.51.100.0/24 DE,
//!   2001:db8:2000::/48 SE; a MaxMind Country layout (`{"country": {"iso_code": "SE"}}`,
//!   database type `GeoLite2-Country`), written with `mmdb-writer` and checked with `maxminddb`.
//! - prefix→ASN ([`STANDARD_ASN`]): 192.0.2.0/24 → 64500.
//! - Edge configuration ([`Fixture::config_text`]): `edge_id = "fixture-edge"`,
//!   `server.ip_param_networks = ["127.0.0.0/8", "::1/128"]` (so a test picks the client with
//!   `ip=CLIENT`, see [`with_ip`]), `selection.seed` = 64 zeros (K of §18),
//!   `explain.full_networks = ["127.0.0.0/8", "::1/128"]` (explain shows private hosts
//!   unredacted to the tests; set it to `[]` to test redaction).
//!
//! # Variants
//!
//! Every part is a public field or has a builder method, all consuming and chainable:
//!
//! ```ignore
//! let edge = Fixture::new()
//!     .policy(5, 0)
//!     .add_host("Example Hosting", json!({"name": "m.example.fr", "country": "FR", ...}))
//!     .netblock_country("192.0.2.0/28", "FR")
//!     .no_geoip()
//!     .config("server", "trusted_proxies", r#"["127.0.0.0/8"]"#)
//!     .start();
//! ```
//!
//! For what an inventory cannot express, [`Fixture::edit_snapshot`] edits the logical
//! [`SnapshotData`] just before it is encoded.
//!
//! # Sharing edges
//!
//! Starting an edge costs ~100 ms; rows that use the same variant share one:
//! [`standard_edge`] for the standard fixture, [`shared`] for any named variant (`shared("v4
//! only", || Fixture::new().…)`: the closure runs once per test process, the edge lives until
//! the process exits). Edges started with [`Fixture::start`] are owned and killed on drop.
//! Every edge, shared or owned, is killed when the test process exits, even when it is killed
//! itself (`PR_SET_PDEATHSIG`, plus an `atexit` hook).
//!
//! # Talking to an edge
//!
//! [`Edge::get`], [`Edge::head`], [`Edge::request`] (method, target, extra header fields),
//! [`Edge::request_body`] (with a body), [`Edge::request_bytes`] (exact bytes, for HTTP/1.0,
//! non-ASCII headers, …), [`Edge::connect`] (a [`Conn`] for keep-alive and pipelining),
//! [`Edge::h2c`] (HTTP/2 prior knowledge with hyper), [`Edge::explain`] (the explain JSON),
//! [`EdgeChild::metrics`] and [`Edge::metric`] (Prometheus text and one sample). Every exchange
//! is bounded by [`HTTP_TIMEOUT`]; a transport error panics with the edge's logs. An [`Edge`]
//! dereferences to its [`EdgeChild`] (the one way the tests run an edge, [`crate::process`]):
//! address and URL ([`Listening`]), pid, signals, exit status, logs.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mirrorfleet_snapshot::model::SnapshotData;
use serde_json::{Value, json};

use crate::bins::{FIXTURE_EPOCH, binary_command, workspace_root};
use crate::process::{EdgeChild, start_on_free_port};

mod conn;
mod edge;
mod geoip;
mod h2c;

pub use crate::http::Listening;
pub use conn::{Conn, exchange};
pub use edge::{Edge, metric_value, request_bytes, shared, standard_edge};
pub use geoip::{country_record, geoip_database};
pub use h2c::H2Request;

/// Snapshot version of the fixture (§18).
pub const SNAPSHOT_VERSION: u64 = 1204;
/// The snapshot's `created_at` (Unix seconds); also what `time=1` prints.
pub const CREATED_AT: i64 = FIXTURE_EPOCH as i64;
/// `selection.seed`: K = 32 zero bytes (§18).
pub const SEED_HEX: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// The `edge_id` of every fixture edge (unless the configuration is changed).
pub const EDGE_ID: &str = "fixture-edge";

/// The Swedish host: id 3, AS 64500, netblock 192.0.2.0/24, bandwidth 10000,
/// URLs `https://mirror.example.edu/fedora/linux` and `rsync://…` (Fedora Linux) and
/// `https://mirror.example.edu/epel` (EPEL, `9/**` up to date).
pub const HOST_SE: &str = "mirror.example.edu";
/// The US host: id 2, bandwidth 1000, allowed countries US and CA, carries `releases/40/**`
/// only; URLs `https://fedora.example.net/pub/fedora/linux`, `http://…`.
pub const HOST_US: &str = "fedora.example.net";
/// The private German host: id 1, netblocks 198.51.100.0/24 and 2001:db8:1000::/36, URL
/// `http://mirror.corp.example.com/fedora/linux` (and `/epel`, always up to date).
pub const HOST_DE_PRIVATE: &str = "mirror.corp.example.com";

/// "SE client" of §18: in 192.0.2.0/24 (netblock of [`HOST_SE`], AS 64500, GeoIP SE).
pub const SE_CLIENT: &str = "192.0.2.200";
/// A US client (GeoIP US, no netblock, no ASN).
pub const US_CLIENT: &str = "203.0.113.5";
/// A DE client inside the private host's netblock (GeoIP DE).
pub const DE_PRIVATE_CLIENT: &str = "198.51.100.7";
/// An IPv6 SE client (GeoIP SE), in no host netblock.
pub const SE_CLIENT_V6: &str = "2001:db8:2000::1";
/// A client the GeoIP file does not know (no country, no ASN).
pub const UNKNOWN_CLIENT: &str = "100.64.0.1";

/// The standard GeoIP records: (network, ISO country code).
pub const STANDARD_GEOIP: &[(&str, &str)] = &[
    ("192.0.2.0/24", "SE"),
    ("203.0.113.0/24", "US"),
    ("198.51.100.0/24", "DE"),
    ("2001:db8:2000::/48", "SE"),
];
/// The standard prefix→ASN table.
pub const STANDARD_ASN: &[(&str, u32)] = &[("192.0.2.0/24", 64500)];

/// Bound on one HTTP exchange with a fixture edge.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an edge may take to become ready (healthz 200, and readyz 200 when it has a
/// snapshot).
pub const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The DM §11.2 inventory (`examples/inventory.json`), with policy `min_mirrors` 5 and
/// `max_hosts` 100.
pub fn example_inventory() -> Value {
    let path = workspace_root().join("examples/inventory.json");
    let text = fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the fixture inventory {}: {e}", path.display()));
    let mut v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    v["policy"] = json!({"min_mirrors": 5, "max_hosts": 100});
    v
}

/// `target` with `ip=CLIENT` appended (`?` or `&` as needed): the client the edge answers for,
/// honoured because every fixture edge lists 127.0.0.0/8 in `server.ip_param_networks`.
pub fn with_ip(target: &str, client: &str) -> String {
    let sep = if target.contains('?') { '&' } else { '?' };
    format!("{target}{sep}ip={client}")
}

/// How the edge gets its snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotMode {
    /// `--snapshot FILE` with the built snapshot (default); ready = `/readyz` 200.
    File,
    /// `--snapshot FILE` naming a file that does not exist (yet): the edge answers 503 (E9)
    /// until something is written there ([`Edge::files`]`.snapshot`); ready = `/healthz` 200.
    MissingFile,
    /// No snapshot flag at all: the configuration or [`Fixture::arg`] must name the source
    /// (`--store file://…`); ready = `/healthz` 200. The snapshot is still written to
    /// [`FixtureFiles::snapshot`].
    Custom,
}

type SnapshotEdit = Arc<dyn Fn(&mut SnapshotData) + Send + Sync>;

/// A description of one edge: inventory, ASN table, GeoIP records, configuration, flags.
/// Cheap to clone; nothing is built until [`Fixture::write`] or [`Fixture::start`].
#[derive(Clone)]
pub struct Fixture {
    /// The inventory (DM §11), edited freely as JSON.
    pub inventory: Value,
    /// prefix→ASN entries (`"cidr"`, ASN); empty: no table (E39).
    pub asn_table: Vec<(String, u32)>,
    /// GeoIP records (`"cidr"`, record JSON such as `{"country": {"iso_code": "SE"}}`), in
    /// insertion order (a later, longer network overrides inside an earlier one); `None`: the
    /// edge gets no `--geoip`.
    pub geoip: Option<Vec<(String, Value)>>,
    /// GeoIP `database_type`. Default `GeoLite2-Country`.
    pub geoip_type: String,
    /// Edge configuration: section → key → TOML value text (section `""` = top level).
    pub config: BTreeMap<String, BTreeMap<String, String>>,
    /// Snapshot version. Default 1204.
    pub version: u64,
    /// Snapshot `created_at`. Default [`CREATED_AT`].
    pub created_at: i64,
    /// How the edge is pointed at the snapshot.
    pub snapshot_mode: SnapshotMode,
    /// Extra command-line arguments for `mirrorfleet-edge`.
    pub args: Vec<String>,
    /// Extra environment variables for `mirrorfleet-edge`.
    pub env: Vec<(String, String)>,
    edits: Vec<SnapshotEdit>,
}

impl Default for Fixture {
    fn default() -> Self {
        Fixture::new()
    }
}

impl Fixture {
    /// The standard fixture of §18 (see the module documentation).
    pub fn new() -> Fixture {
        let mut config: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut set = |s: &str, k: &str, v: &str| {
            config
                .entry(s.to_string())
                .or_default()
                .insert(k.to_string(), v.to_string());
        };
        set("", "edge_id", &toml_string(EDGE_ID));
        set(
            "server",
            "ip_param_networks",
            r#"["127.0.0.0/8", "::1/128"]"#,
        );
        set("selection", "seed", &toml_string(SEED_HEX));
        set("explain", "full_networks", r#"["127.0.0.0/8", "::1/128"]"#);
        Fixture {
            inventory: example_inventory(),
            asn_table: STANDARD_ASN
                .iter()
                .map(|(p, a)| (p.to_string(), *a))
                .collect(),
            geoip: Some(
                STANDARD_GEOIP
                    .iter()
                    .map(|(p, cc)| (p.to_string(), country_record(cc)))
                    .collect(),
            ),
            geoip_type: "GeoLite2-Country".to_string(),
            config,
            version: SNAPSHOT_VERSION,
            created_at: CREATED_AT,
            snapshot_mode: SnapshotMode::File,
            args: Vec::new(),
            env: Vec::new(),
            edits: Vec::new(),
        }
    }

    // ---- inventory ----------------------------------------------------------------------

    /// Edits the inventory JSON in place.
    pub fn inventory(mut self, edit: impl FnOnce(&mut Value)) -> Fixture {
        edit(&mut self.inventory);
        self
    }

    /// Sets the policy (`min_mirrors`, `max_hosts`; 0 = no limit).
    pub fn policy(mut self, min_mirrors: u32, max_hosts: u32) -> Fixture {
        self.inventory["policy"] = json!({"min_mirrors": min_mirrors, "max_hosts": max_hosts});
        self
    }

    /// Adds `host` (DM §11.1 host object) to the site named `site`, creating the site
    /// (`{"name": site, "hosts": []}`) when there is none. Host ids follow (site name, host
    /// name) byte order, so adding hosts can renumber the standard ones.
    pub fn add_host(mut self, site: &str, host: Value) -> Fixture {
        let sites = array_field(&mut self.inventory, "sites");
        let index = match sites.iter().position(|s| s["name"] == site) {
            Some(i) => i,
            None => {
                sites.push(json!({"name": site, "hosts": []}));
                sites.len() - 1
            }
        };
        array_field(&mut sites[index], "hosts").push(host);
        self
    }

    /// Removes every host named `name` (and leaves its site, possibly empty).
    pub fn remove_host(mut self, name: &str) -> Fixture {
        for site in array_field(&mut self.inventory, "sites") {
            array_field(site, "hosts").retain(|h| h["name"] != name);
        }
        self
    }

    /// Adds a repository object (DM §11.1: prefix, arch, category, dir, repomd, …).
    pub fn add_repository(mut self, repository: Value) -> Fixture {
        array_field(&mut self.inventory, "repositories").push(repository);
        self
    }

    /// Adds a netblock→country override (`netblock_countries`).
    pub fn netblock_country(mut self, cidr: &str, cc: &str) -> Fixture {
        object_field(&mut self.inventory, "netblock_countries").insert(cidr.into(), json!(cc));
        self
    }

    /// Adds a country→continent override (`continent_overrides`).
    pub fn continent_override(mut self, cc: &str, continent: &str) -> Fixture {
        object_field(&mut self.inventory, "continent_overrides")
            .insert(cc.into(), json!(continent));
        self
    }

    /// Adds a repository redirect (`repo_redirects`).
    pub fn repo_redirect(mut self, from: &str, to: &str) -> Fixture {
        object_field(&mut self.inventory, "repo_redirects").insert(from.into(), json!(to));
        self
    }

    /// Adds a disabled prefix (`disabled_repos`).
    pub fn disabled_repo(mut self, prefix: &str) -> Fixture {
        array_field(&mut self.inventory, "disabled_repos").push(json!({"prefix": prefix}));
        self
    }

    /// Edits the logical snapshot after the inventory derivation, before encoding (for what the
    /// inventory cannot express). Edits run in the order given.
    pub fn edit_snapshot(
        mut self,
        edit: impl Fn(&mut SnapshotData) + Send + Sync + 'static,
    ) -> Fixture {
        self.edits.push(Arc::new(edit));
        self
    }

    /// Sets the snapshot version.
    pub fn version(mut self, version: u64) -> Fixture {
        self.version = version;
        self
    }

    // ---- ASN table, GeoIP ------------------------------------------------------------------

    /// Adds a prefix→ASN entry.
    pub fn asn(mut self, cidr: &str, asn: u32) -> Fixture {
        self.asn_table.push((cidr.to_string(), asn));
        self
    }

    /// Empties the prefix→ASN table (E39).
    pub fn no_asn_table(mut self) -> Fixture {
        self.asn_table.clear();
        self
    }

    /// Adds a GeoIP Country record `{"country": {"iso_code": CC}}` for `cidr` (creating the
    /// database when there is none).
    pub fn geoip(self, cidr: &str, cc: &str) -> Fixture {
        self.geoip_record(cidr, country_record(cc))
    }

    /// Adds any GeoIP record (e.g. a City-layout record) for `cidr`.
    pub fn geoip_record(mut self, cidr: &str, record: Value) -> Fixture {
        self.geoip
            .get_or_insert_with(Vec::new)
            .push((cidr.to_string(), record));
        self
    }

    /// No GeoIP database: the edge gets no `--geoip` (E37).
    pub fn no_geoip(mut self) -> Fixture {
        self.geoip = None;
        self
    }

    // ---- edge configuration ----------------------------------------------------------------

    /// Sets configuration key `section.key` to a TOML value given as text (`"[\"10.0.0.0/8\"]"`,
    /// `"\"5s\""`, `"true"`); section `""` is the top level (`edge_id`).
    pub fn config(mut self, section: &str, key: &str, toml_value: &str) -> Fixture {
        self.config
            .entry(section.to_string())
            .or_default()
            .insert(key.to_string(), toml_value.to_string());
        self
    }

    /// Removes configuration key `section.key` (back to the edge's default).
    pub fn unset_config(mut self, section: &str, key: &str) -> Fixture {
        if let Some(s) = self.config.get_mut(section) {
            s.remove(key);
        }
        self
    }

    /// `server.trusted_proxies`.
    pub fn trusted_proxies(self, cidrs: &[&str]) -> Fixture {
        self.config("server", "trusted_proxies", &toml_list(cidrs))
    }

    /// `server.ip_param_networks` (the fixture's default: 127.0.0.0/8 and ::1/128).
    pub fn ip_param_networks(self, cidrs: &[&str]) -> Fixture {
        self.config("server", "ip_param_networks", &toml_list(cidrs))
    }

    /// `explain.full_networks` (the fixture's default: 127.0.0.0/8 and ::1/128).
    pub fn explain_full_networks(self, cidrs: &[&str]) -> Fixture {
        self.config("explain", "full_networks", &toml_list(cidrs))
    }

    /// An extra command-line argument for `mirrorfleet-edge`.
    pub fn arg(mut self, arg: impl Into<String>) -> Fixture {
        self.args.push(arg.into());
        self
    }

    /// An extra environment variable for `mirrorfleet-edge`.
    pub fn env(mut self, name: &str, value: &str) -> Fixture {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// How the edge is pointed at the snapshot.
    pub fn snapshot_mode(mut self, mode: SnapshotMode) -> Fixture {
        self.snapshot_mode = mode;
        self
    }

    /// The configuration file's text.
    pub fn config_text(&self) -> String {
        let mut out = String::new();
        if let Some(top) = self.config.get("") {
            for (k, v) in top {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        for (section, keys) in &self.config {
            if section.is_empty() || keys.is_empty() {
                continue;
            }
            out.push_str(&format!("\n[{section}]\n"));
            for (k, v) in keys {
                out.push_str(&format!("{k} = {v}\n"));
            }
        }
        out
    }

    // ---- building --------------------------------------------------------------------------

    /// The logical snapshot (inventory derivation, then the [`Fixture::edit_snapshot`] edits).
    /// Panics with the inventory's diagnostics when it does not validate.
    pub fn snapshot_data(&self) -> SnapshotData {
        use mirrorfleet_control::inventory::{BuildOptions, parse_inventory, to_snapshot_data};
        let text = serde_json::to_string_pretty(&self.inventory).expect("inventory to JSON");
        let (inventory, _warnings) = match parse_inventory("inventory.json", &text) {
            Ok(ok) => ok,
            Err(diagnostics) => panic!(
                "the fixture inventory does not validate:\n{}\n--- inventory ---\n{text}",
                diagnostics
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        };
        let mut opts = BuildOptions {
            version: self.version,
            created_at: self.created_at,
            installation_id: mirrorfleet_control::snapshot_cmd::inventory_installation_id(),
            producer_version: "fixture".to_string(),
            ..BuildOptions::default()
        };
        if !self.asn_table.is_empty() {
            let (table, _report) = mirrorfleet_control::asn_table::parse_asn_table(
                &self.asn_table_text(),
                "asn.txt",
                0.0,
            )
            .unwrap_or_else(|e| panic!("the fixture ASN table is invalid: {e}"));
            opts.asn_sha256 = table.sha256_hex();
            opts.asn_source = "asn.txt".to_string();
            opts.asn_imported_at = self.created_at;
            opts.prefix_asn = table.entries;
        }
        let (mut data, _notes) = to_snapshot_data(&inventory, &opts);
        for edit in &self.edits {
            edit(&mut data);
        }
        data
    }

    /// The encoded snapshot. Panics when the builder refuses it.
    pub fn snapshot_bytes(&self) -> Vec<u8> {
        mirrorfleet_snapshot::build(&self.snapshot_data())
            .unwrap_or_else(|e| panic!("the fixture snapshot does not build: {e}"))
    }

    /// The prefix→ASN table as `mirrorfleet snapshot build --asn-table` reads it.
    pub fn asn_table_text(&self) -> String {
        self.asn_table
            .iter()
            .map(|(p, a)| format!("{p} {a}\n"))
            .collect()
    }

    /// The GeoIP database bytes (`None` without GeoIP), checked: every record's network is
    /// looked up again with `maxminddb` and must give back its `country.iso_code`.
    pub fn geoip_bytes(&self) -> Option<Vec<u8>> {
        let records = self.geoip.as_ref()?;
        Some(geoip_database(&self.geoip_type, records))
    }

    /// Writes every file into `dir`: `inventory.json`, `asn.txt`, `snapshot.bin` (unless
    /// [`SnapshotMode::MissingFile`]), `geoip.mmdb` (when GeoIP is on), `edge.toml`.
    pub fn write(&self, dir: &Path) -> FixtureFiles {
        fs::create_dir_all(dir).expect("create the fixture directory");
        let files = FixtureFiles {
            dir: dir.to_path_buf(),
            inventory: dir.join("inventory.json"),
            asn_table: dir.join("asn.txt"),
            snapshot: dir.join("snapshot.bin"),
            geoip: self.geoip.as_ref().map(|_| dir.join("geoip.mmdb")),
            config: dir.join("edge.toml"),
        };
        let w = |p: &Path, b: &[u8]| {
            fs::write(p, b).unwrap_or_else(|e| panic!("write {}: {e}", p.display()))
        };
        w(
            &files.inventory,
            serde_json::to_string_pretty(&self.inventory)
                .unwrap()
                .as_bytes(),
        );
        w(&files.asn_table, self.asn_table_text().as_bytes());
        if self.snapshot_mode != SnapshotMode::MissingFile {
            w(&files.snapshot, &self.snapshot_bytes());
        }
        if let (Some(path), Some(bytes)) = (&files.geoip, self.geoip_bytes()) {
            w(path, &bytes);
        }
        w(&files.config, self.config_text().as_bytes());
        files
    }

    /// Builds the files and starts an edge on a free port of 127.0.0.1; waits until it is ready
    /// (see [`SnapshotMode`]). Panics with the edge's logs when it does not become ready. The
    /// edge is killed when the [`Edge`] is dropped.
    pub fn start(&self) -> Edge {
        let probe = match self.snapshot_mode {
            SnapshotMode::File => "/readyz",
            SnapshotMode::MissingFile | SnapshotMode::Custom => "/healthz",
        };
        start_on_free_port(probe, READY_TIMEOUT, |addr| {
            let dir = tempfile::Builder::new()
                .prefix("mirrorfleet-fixture-")
                .tempdir()
                .expect("temp dir");
            let files = self.write(dir.path());
            let mut cmd = binary_command("mirrorfleet-edge", dir.path());
            cmd.arg("--config").arg(&files.config);
            if self.snapshot_mode != SnapshotMode::Custom {
                cmd.arg("--snapshot").arg(&files.snapshot);
            }
            if let Some(g) = &files.geoip {
                cmd.arg("--geoip").arg(g);
            }
            cmd.arg("--listen").arg(addr.to_string()).args(&self.args);
            for (k, v) in &self.env {
                cmd.env(k, v);
            }
            Edge {
                child: EdgeChild::spawn(cmd, dir, addr),
                files,
            }
        })
        .unwrap_or_else(|f| {
            panic!(
                "fixture edge on {} ({}): {}\n--- edge.toml ---\n{}\n{}",
                f.addr,
                self.args.join(" "),
                f.message,
                self.config_text(),
                f.logs
            )
        })
    }
}

/// Paths of the files a fixture wrote.
#[derive(Clone, Debug)]
pub struct FixtureFiles {
    /// The directory holding them (also the edge's working directory and logs).
    pub dir: PathBuf,
    /// `inventory.json`.
    pub inventory: PathBuf,
    /// `asn.txt` (`prefix/len ASN` lines; empty when the table is).
    pub asn_table: PathBuf,
    /// `snapshot.bin` (absent in [`SnapshotMode::MissingFile`]).
    pub snapshot: PathBuf,
    /// `geoip.mmdb`, when GeoIP is on.
    pub geoip: Option<PathBuf>,
    /// `edge.toml`.
    pub config: PathBuf,
}

fn array_field<'a>(v: &'a mut Value, key: &str) -> &'a mut Vec<Value> {
    if !v[key].is_array() {
        v[key] = json!([]);
    }
    v[key].as_array_mut().unwrap()
}

fn object_field<'a>(v: &'a mut Value, key: &str) -> &'a mut serde_json::Map<String, Value> {
    if !v[key].is_object() {
        v[key] = json!({});
    }
    v[key].as_object_mut().unwrap()
}

/// A TOML basic string.
pub fn toml_string(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

/// A TOML array of strings.
pub fn toml_list(items: &[&str]) -> String {
    format!(
        "[{}]",
        items
            .iter()
            .map(|s| toml_string(s))
            .collect::<Vec<_>>()
            .join(", ")
    )
}
