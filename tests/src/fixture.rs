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
//! [`Edge::metrics`] and [`Edge::metric`] (Prometheus text and one sample). Every exchange is
//! bounded by [`HTTP_TIMEOUT`]; a transport error panics with the edge's logs.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use mirrorfleet_snapshot::model::SnapshotData;
use serde_json::{Value, json};

use crate::bins::{FIXTURE_EPOCH, binary_command, binary_path, free_port, workspace_root};
use crate::http::HttpResponse;

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
        let bin = binary_path("mirrorfleet-edge");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let dir = tempfile::Builder::new()
                .prefix("mirrorfleet-fixture-")
                .tempdir()
                .expect("temp dir");
            let files = self.write(dir.path());
            let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
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
            let log = |n: &str| File::create(dir.path().join(n)).expect("create a log file");
            cmd.stdin(Stdio::null())
                .stdout(log("stdout.log"))
                .stderr(log("stderr.log"));
            let child = spawn_guarded(cmd)
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
            let mut edge = Edge {
                child: Mutex::new(child),
                addr,
                files: files.clone(),
                dir,
            };
            match edge.wait_ready(self.snapshot_mode == SnapshotMode::File) {
                Ok(()) => return edge,
                Err(msg) => {
                    let logs = edge.logs();
                    let lost_port = logs.contains("in use") || logs.contains("AddrInUse");
                    drop(edge);
                    if lost_port && attempt < 3 {
                        continue;
                    }
                    panic!(
                        "fixture edge on {addr} ({}): {msg}\n--- edge.toml ---\n{}\n{logs}",
                        self.args.join(" "),
                        self.config_text()
                    );
                }
            }
        }
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

/// `{"country": {"iso_code": CC}}`.
pub fn country_record(cc: &str) -> Value {
    json!({"country": {"iso_code": cc}})
}

/// A MaxMind database (IPv6 tree, IPv4 aliased, reserved networks writable, fixed build epoch)
/// holding `records`, checked with `maxminddb`: each network's first and last address must
/// read back its record's `country.iso_code`, unless a later record covers that address.
pub fn geoip_database(database_type: &str, records: &[(String, Value)]) -> Vec<u8> {
    use mmdb_writer::ipnet::IpNet;
    use mmdb_writer::{ReservedNetworks, Writer};
    let mut writer = Writer::builder(database_type.to_string())
        .reserved_networks(ReservedNetworks::Included)
        .build_epoch(std::time::UNIX_EPOCH + Duration::from_secs(FIXTURE_EPOCH))
        .build();
    let mut nets = Vec::new();
    for (cidr, record) in records {
        let net: IpNet = cidr
            .parse()
            .unwrap_or_else(|e| panic!("GeoIP network {cidr:?}: {e}"));
        writer
            .insert(net, record)
            .unwrap_or_else(|e| panic!("GeoIP insert {cidr}: {e}"));
        nets.push((net, record));
    }
    let bytes = writer.to_bytes().expect("encode the GeoIP database");

    #[derive(serde::Deserialize)]
    struct Rec {
        country: Option<Iso>,
    }
    #[derive(serde::Deserialize)]
    struct Iso {
        iso_code: Option<String>,
    }
    let reader = maxminddb::Reader::from_source(bytes.clone()).expect("maxminddb opens it");
    assert_eq!(reader.metadata.database_type, database_type);
    for (i, (net, record)) in nets.iter().enumerate() {
        for ip in [net.network(), net.broadcast()] {
            if nets[i + 1..].iter().any(|(n, _)| n.contains(&ip)) {
                continue;
            }
            let got: Option<Rec> = reader
                .lookup(ip)
                .unwrap_or_else(|e| panic!("maxminddb lookup {ip}: {e}"));
            let got = got.and_then(|r| r.country).and_then(|c| c.iso_code);
            let want = record["country"]["iso_code"].as_str().map(str::to_string);
            assert_eq!(
                got, want,
                "GeoIP fixture: {ip} (in {net}) reads back {got:?}, expected {want:?}"
            );
        }
    }
    bytes
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

// ---------------------------------------------------------------------------------------------
// Shared edges
// ---------------------------------------------------------------------------------------------

/// The edge of the standard fixture, started once per test process.
pub fn standard_edge() -> &'static Edge {
    shared("standard", Fixture::new)
}

/// The edge of the variant named `name`, started once per test process from `make()` (only the
/// first caller's closure runs; concurrent callers wait for it). Lives until the process exits.
pub fn shared(name: &str, make: impl FnOnce() -> Fixture) -> &'static Edge {
    static SHARED: OnceLock<Mutex<HashMap<String, &'static OnceLock<Edge>>>> = OnceLock::new();
    let cell: &'static OnceLock<Edge> = {
        let mut map = SHARED
            .get_or_init(|| Mutex::new(HashMap::new()))
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_string())
            .or_insert_with(|| Box::leak(Box::new(OnceLock::new())))
    };
    cell.get_or_init(|| make().start())
}

// ---------------------------------------------------------------------------------------------
// Processes: spawned from one long-lived thread with PR_SET_PDEATHSIG (the signal follows the
// spawning *thread*), and killed by an atexit hook since shared edges are never dropped.
// ---------------------------------------------------------------------------------------------

type SpawnReq = (Command, mpsc::Sender<io::Result<Child>>);

static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn spawn_guarded(mut cmd: Command) -> io::Result<Child> {
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<SpawnReq>>> = OnceLock::new();
    static ATEXIT: Once = Once::new();
    ATEXIT.call_once(|| unsafe {
        libc::atexit(kill_live_at_exit);
    });
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.process_group(0).pre_exec(move || {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let tx = SPAWNER
        .get_or_init(|| {
            let (tx, rx) = mpsc::channel::<SpawnReq>();
            thread::Builder::new()
                .name("fixture-spawner".into())
                .spawn(move || {
                    for (mut cmd, reply) in rx {
                        let _ = reply.send(cmd.spawn());
                    }
                })
                .expect("spawner thread");
            Mutex::new(tx)
        })
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let (reply_tx, reply_rx) = mpsc::channel();
    tx.send((cmd, reply_tx))
        .map_err(|_| io::Error::other("spawner thread gone"))?;
    let child = reply_rx
        .recv()
        .map_err(|_| io::Error::other("spawner thread gone"))??;
    LIVE.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(child.id());
    Ok(child)
}

extern "C" fn kill_live_at_exit() {
    if let Ok(live) = LIVE.try_lock() {
        for &pid in live.iter() {
            unsafe {
                libc::kill(-(pid as libc::pid_t), libc::SIGKILL);
            }
        }
    }
}

fn forget_live(pid: u32) {
    LIVE.lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|&p| p != pid);
}

// ---------------------------------------------------------------------------------------------
// The edge handle
// ---------------------------------------------------------------------------------------------

/// A running fixture edge on 127.0.0.1 (see the module documentation).
pub struct Edge {
    child: Mutex<Child>,
    addr: SocketAddr,
    /// The files it was started with (in its working directory).
    pub files: FixtureFiles,
    dir: tempfile::TempDir,
}

impl Edge {
    fn wait_ready(&mut self, want_readyz: bool) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let probe = if want_readyz { "/readyz" } else { "/healthz" };
        loop {
            if let Ok(Some(status)) = self.child.get_mut().unwrap().try_wait() {
                return Err(format!("exited before it was ready ({status})"));
            }
            let last = match self.try_request("GET", probe, &[], None) {
                Ok(r) if r.status == 200 => return Ok(()),
                Ok(r) => format!("{probe} answered {}: {}", r.status, r.text().trim()),
                Err(e) => format!("{probe}: {e}"),
            };
            if Instant::now() >= deadline {
                return Err(format!("not ready after {READY_TIMEOUT:?} (last: {last})"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The edge's process id.
    pub fn pid(&self) -> u32 {
        self.child.lock().unwrap_or_else(|p| p.into_inner()).id()
    }

    /// Sends a signal (`libc::SIGTERM`, `libc::SIGHUP`, …) to the edge.
    pub fn signal(&self, sig: i32) {
        unsafe {
            libc::kill(self.pid() as libc::pid_t, sig);
        }
    }

    /// Waits up to `timeout` for the edge to exit; its status, or `None` if still running.
    pub fn wait_exit(&self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self
                .child
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .try_wait()
            {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the edge (its process group) and reaps it.
    pub fn kill(&self) {
        let mut child = self.child.lock().unwrap_or_else(|p| p.into_inner());
        if let Ok(None) = child.try_wait() {
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
            }
            let _ = child.kill();
        }
        let _ = child.wait();
        forget_live(child.id());
    }

    /// The edge's stdout and stderr so far.
    pub fn logs(&self) -> String {
        let read = |f: &str| fs::read_to_string(self.dir.path().join(f)).unwrap_or_default();
        format!(
            "--- edge stdout ---\n{}\n--- edge stderr ---\n{}",
            read("stdout.log").trim_end(),
            read("stderr.log").trim_end()
        )
    }

    /// GET `target` (path and query) over HTTP/1.1 with `Accept: */*` and `Connection: close`.
    pub fn get(&self, target: &str) -> HttpResponse {
        self.request("GET", target, &[])
    }

    /// HEAD `target`.
    pub fn head(&self, target: &str) -> HttpResponse {
        self.request("HEAD", target, &[])
    }

    /// GET `target` for client `client` (`ip=` appended, see [`with_ip`]).
    pub fn get_as(&self, client: &str, target: &str) -> HttpResponse {
        self.get(&with_ip(target, client))
    }

    /// An HTTP/1.1 request: request line, `Host`, `User-Agent`, `Accept: */*` and
    /// `Connection: close` unless `headers` names them (case-insensitive), then `headers` in
    /// order (a name may repeat). Panics on a transport error.
    pub fn request(&self, method: &str, target: &str, headers: &[(&str, &str)]) -> HttpResponse {
        self.try_request(method, target, headers, None)
            .unwrap_or_else(|e| panic!("{method} {target}: {e}\n{}", self.logs()))
    }

    /// As [`Edge::request`] with a body (`Content-Length` added unless given).
    pub fn request_body(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        self.try_request(method, target, headers, Some(body))
            .unwrap_or_else(|e| panic!("{method} {target} with a body: {e}\n{}", self.logs()))
    }

    /// As [`Edge::request`], returning transport errors.
    pub fn try_request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> io::Result<HttpResponse> {
        let raw = request_bytes(&self.addr, method, target, headers, body);
        let mut conn = Conn::open(self.addr)?;
        conn.send(&raw)?;
        conn.read_response(method.eq_ignore_ascii_case("HEAD"))
    }

    /// Sends exactly `raw` on a new connection and reads one response (a HEAD request when
    /// `raw` starts with `HEAD `). Panics on a transport error.
    pub fn request_bytes(&self, raw: &[u8]) -> HttpResponse {
        let run = || -> io::Result<HttpResponse> {
            let mut conn = Conn::open(self.addr)?;
            conn.send(raw)?;
            conn.read_response(raw.starts_with(b"HEAD "))
        };
        run().unwrap_or_else(|e| {
            panic!(
                "raw request {:?}: {e}\n{}",
                String::from_utf8_lossy(raw),
                self.logs()
            )
        })
    }

    /// A new connection, for keep-alive, pipelining and close checks.
    pub fn connect(&self) -> Conn {
        Conn::open(self.addr)
            .unwrap_or_else(|e| panic!("connect to {}: {e}\n{}", self.addr, self.logs()))
    }

    /// HTTP/2 with prior knowledge (h2c): every `(method, target, headers)` is sent, in order,
    /// as a stream of ONE connection (hyper client). Panics on any error or after
    /// [`HTTP_TIMEOUT`].
    pub fn h2c(&self, requests: &[H2Request<'_>]) -> Vec<HttpResponse> {
        h2c_requests(self.addr, requests)
            .unwrap_or_else(|e| panic!("h2c to {}: {e}\n{}", self.addr, self.logs()))
    }

    /// GET `target` + `explain=1` and parse the JSON; panics unless 200 `application/json`.
    pub fn explain(&self, target: &str) -> Value {
        let sep = if target.contains('?') { '&' } else { '?' };
        let t = format!("{target}{sep}explain=1");
        let r = self.get(&t);
        assert_eq!(r.status, 200, "GET {t}: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "GET {t}"
        );
        serde_json::from_slice(&r.body)
            .unwrap_or_else(|e| panic!("GET {t}: not JSON ({e}): {}", r.text()))
    }

    /// The explain JSON of `target` for client `client`.
    pub fn explain_as(&self, client: &str, target: &str) -> Value {
        self.explain(&with_ip(target, client))
    }

    /// The `/metrics` text (panics unless 200).
    pub fn metrics(&self) -> String {
        let r = self.get("/metrics");
        assert_eq!(r.status, 200, "/metrics: {}", r.text());
        r.text()
    }

    /// The value of sample `name` whose labels include every `labels` pair (the first such
    /// sample; `0.0` when there is none, as for a counter not yet incremented).
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric_value(&self.metrics(), name, labels).unwrap_or(0.0)
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The bytes of an HTTP/1.1 request as [`Edge::request`] sends it.
pub fn request_bytes(
    addr: &SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let has = |n: &str| headers.iter().any(|(h, _)| h.eq_ignore_ascii_case(n));
    let mut s = format!("{method} {target} HTTP/1.1\r\n");
    if !has("host") {
        s.push_str(&format!("Host: {addr}\r\n"));
    }
    if !has("user-agent") {
        s.push_str("User-Agent: mirrorfleet-tests\r\n");
    }
    if !has("accept") {
        s.push_str("Accept: */*\r\n");
    }
    if !has("connection") {
        s.push_str("Connection: close\r\n");
    }
    if let Some(b) = body
        && !has("content-length")
        && !has("transfer-encoding")
    {
        s.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    for (n, v) in headers {
        s.push_str(&format!("{n}: {v}\r\n"));
    }
    s.push_str("\r\n");
    let mut raw = s.into_bytes();
    if let Some(b) = body {
        raw.extend_from_slice(b);
    }
    raw
}

/// The value of the first sample `name{…}` in Prometheus text whose labels include every pair
/// of `labels`.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        let (label_text, value) = if let Some(r) = rest.strip_prefix('{') {
            let Some(end) = r.rfind('}') else { continue };
            (&r[..end], r[end + 1..].trim())
        } else if rest.starts_with(' ') {
            ("", rest.trim())
        } else {
            continue;
        };
        let parsed = parse_labels(label_text);
        if labels
            .iter()
            .all(|(k, v)| parsed.iter().any(|(pk, pv)| pk == k && pv == v))
        {
            let value = value.split_whitespace().next().unwrap_or("");
            return value.parse().ok();
        }
    }
    None
}

fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while matches!(chars.peek(), Some(',' | ' ')) {
            chars.next();
        }
        let mut key = String::new();
        for c in chars.by_ref() {
            if c == '=' {
                break;
            }
            key.push(c);
        }
        if key.is_empty() || chars.next() != Some('"') {
            return out;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(o) => value.push(o),
                    None => break,
                },
                '"' => break,
                o => value.push(o),
            }
        }
        out.push((key.trim().to_string(), value));
    }
}

// ---------------------------------------------------------------------------------------------
// One HTTP/1.x connection
// ---------------------------------------------------------------------------------------------

/// One TCP connection to an edge: send any bytes, read responses one at a time (keep-alive,
/// pipelining), check whether the edge closed it. Reads are bounded by [`HTTP_TIMEOUT`] each.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    eof: bool,
    /// The status line of the last response read (`HTTP/1.1 200 OK`).
    pub last_status_line: String,
}

impl Conn {
    /// Connects to `addr`.
    pub fn open(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)?;
        stream.set_write_timeout(Some(HTTP_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
            eof: false,
            last_status_line: String::new(),
        })
    }

    /// Writes `bytes`.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)?;
        self.stream.flush()
    }

    /// Closes our sending side (the edge sees end of input).
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads one response (`head`: the request was HEAD, so no body follows whatever
    /// `Content-Length` says). Chunked bodies are decoded.
    pub fn read_response(&mut self, head: bool) -> io::Result<HttpResponse> {
        let deadline = Instant::now() + HTTP_TIMEOUT;
        loop {
            if let Some((resp, used, line)) = try_parse(&self.buf, head, self.eof)? {
                self.buf.drain(..used);
                self.last_status_line = line;
                return Ok(resp);
            }
            if self.eof {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "connection closed before a complete response; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
            self.fill(deadline)?;
        }
    }

    fn fill(&mut self, deadline: Instant) -> io::Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no complete response within {HTTP_TIMEOUT:?}; got {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            ));
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk) {
            Ok(0) => self.eof = true,
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => self.eof = true,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "no complete response within {HTTP_TIMEOUT:?}; got {:?}",
                        String::from_utf8_lossy(&self.buf)
                    ),
                ));
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// True when the edge closes the connection within `within` with no further bytes
    /// (bytes that do arrive are kept for [`Conn::read_response`]; then false).
    pub fn closed_by_peer(&mut self, within: Duration) -> bool {
        if self.eof {
            return self.buf.is_empty();
        }
        let deadline = Instant::now() + within;
        let before = self.buf.len();
        while !self.eof && self.buf.len() == before && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            let _ = self
                .stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => self.eof = true,
                Err(_) => break,
            }
        }
        self.eof && self.buf.len() == before
    }

    /// Bytes received but not yet consumed by [`Conn::read_response`].
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }
}

/// Parses one response from `buf`: `Some((response, bytes used, status line))` when complete,
/// `None` when more bytes are needed. `eof`: the connection is closed (a body without length
/// ends there).
fn try_parse(
    buf: &[u8],
    head: bool,
    eof: bool,
) -> io::Result<Option<(HttpResponse, usize, String)>> {
    let bad = |m: String| io::Error::new(io::ErrorKind::InvalidData, m);
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4) else {
        return Ok(None);
    };
    let head_text = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head_text.split("\r\n");
    let status_line = lines.next().unwrap_or("").to_string();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let resp = |body: Vec<u8>| HttpResponse {
        status,
        headers: headers.clone(),
        body,
    };
    if head || status / 100 == 1 || status == 204 || status == 304 {
        return Ok(Some((resp(Vec::new()), end, status_line)));
    }
    if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        let mut at = end;
        let mut body = Vec::new();
        loop {
            let Some(nl) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
                return Ok(None);
            };
            let size_text = String::from_utf8_lossy(&buf[at..at + nl]).into_owned();
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
            at += nl + 2;
            if size == 0 {
                // Trailers end with an empty line.
                let Some(t) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
                    return Ok(None);
                };
                if t == 0 {
                    return Ok(Some((resp(body), at + 2, status_line)));
                }
                let Some(te) = buf[at..].windows(4).position(|w| w == b"\r\n\r\n") else {
                    return Ok(None);
                };
                return Ok(Some((resp(body), at + te + 4, status_line)));
            }
            if buf.len() < at + size + 2 {
                return Ok(None);
            }
            body.extend_from_slice(&buf[at..at + size]);
            at += size + 2;
        }
    }
    if let Some(cl) = find("content-length") {
        let cl: usize = cl
            .parse()
            .map_err(|_| bad(format!("bad Content-Length {cl:?}")))?;
        if buf.len() < end + cl {
            return Ok(None);
        }
        return Ok(Some((
            resp(buf[end..end + cl].to_vec()),
            end + cl,
            status_line,
        )));
    }
    if eof {
        return Ok(Some((resp(buf[end..].to_vec()), buf.len(), status_line)));
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// HTTP/2 prior knowledge
// ---------------------------------------------------------------------------------------------

/// One HTTP/2 request: method, target, header fields.
pub type H2Request<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// An owned [`H2Request`], moved into the client task.
type OwnedRequest = (String, String, Vec<(String, String)>);

fn h2c_requests(addr: SocketAddr, requests: &[H2Request<'_>]) -> Result<Vec<HttpResponse>, String> {
    use http_body_util::{BodyExt, Empty};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let requests: Vec<OwnedRequest> = requests
        .iter()
        .map(|(m, t, h)| {
            (
                m.to_string(),
                t.to_string(),
                h.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect(),
            )
        })
        .collect();
    rt.block_on(async move {
        let work = async {
            let stream = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| format!("connect: {e}"))?;
            let io = hyper_util::rt::TokioIo::new(stream);
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), io)
                    .await
                    .map_err(|e| format!("h2 handshake: {e}"))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut out = Vec::new();
            for (method, target, headers) in requests {
                let mut b = hyper::Request::builder()
                    .method(method.as_str())
                    .uri(format!("http://{addr}{target}"));
                for (n, v) in &headers {
                    b = b.header(n.as_str(), v.as_str());
                }
                let req = b
                    .body(Empty::<bytes::Bytes>::new())
                    .map_err(|e| format!("{method} {target}: {e}"))?;
                sender
                    .ready()
                    .await
                    .map_err(|e| format!("h2 connection not ready: {e}"))?;
                let resp = sender
                    .send_request(req)
                    .await
                    .map_err(|e| format!("{method} {target}: {e}"))?;
                let (parts, body) = resp.into_parts();
                let body = body
                    .collect()
                    .await
                    .map_err(|e| format!("{method} {target}: body: {e}"))?
                    .to_bytes();
                out.push(HttpResponse {
                    status: parts.status.as_u16(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(n, v)| {
                            (
                                n.as_str().to_string(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect(),
                    body: body.to_vec(),
                });
            }
            Ok::<_, String>(out)
        };
        tokio::time::timeout(HTTP_TIMEOUT, work)
            .await
            .map_err(|_| format!("h2c exchange took more than {HTTP_TIMEOUT:?}"))?
    })
}
