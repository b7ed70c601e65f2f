//! `mirrorfleet`: the control-plane command. Thin glue over the library.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use mirrorfleet_config::parse_duration;
use mirrorfleet_control::asn_cmd;
use mirrorfleet_control::config::{Config, ConfigFlags};
use mirrorfleet_control::db::DbError;
use mirrorfleet_control::maintenance::cmd::MaintenanceCommand;
use mirrorfleet_control::scan::cmd::{self as scan_cmd, ScanArgs};
use mirrorfleet_control::snapshot_cmd::{self, BuildArgs, Reported};
use mirrorfleet_control::store::host::HostSwitch;
use mirrorfleet_control::{db_cmd, host_cmd, mm2, publish_cmd};

/// mirrorfleet control plane.
#[derive(Parser)]
#[command(
    name = "mirrorfleet",
    version,
    about = "mirrorfleet control plane: inventories, snapshots, publishing",
    after_help = "Configuration: built-in defaults, then one TOML file (--config FILE, else \
$MIRRORFLEET_CONFIG, else ./mirrorfleet.toml if present), then environment variables \
MIRRORFLEET__<SECTION>__<KEY> (e.g. MIRRORFLEET__DATA__DIR=/var/lib/mirrorfleet), then \
--database-url. `mirrorfleet config show` prints the result. A configuration error exits with \
status 2.\n\nReference: docs/configuration.md"
)]
struct Cli {
    /// Read the configuration from this TOML file [default: $MIRRORFLEET_CONFIG, else
    /// ./mirrorfleet.toml if present]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Database URL: sqlite://PATH or postgres://…; overrides database.url [default:
    /// sqlite://<data.dir>/mirrorfleet.db]
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The prefix→ASN table.
    #[command(subcommand)]
    Asn(AsnCommand),
    /// Create the database schema and the installation (id, countries, arches); idempotent.
    Init {
        /// Keep an existing installation id (e.g. when re-creating a control plane for the same edges).
        #[arg(long, value_name = "UUID")]
        installation_id: Option<String>,
    },
    /// Apply pending schema migrations.
    Migrate,
    /// Administrators' switch of a host (`admin_active`); audited, published by `serve` or
    /// the next `publish`.
    #[command(subcommand)]
    Host(HostCommand),
    /// Import data into the database.
    #[command(subcommand)]
    Import(ImportCommand),
    /// Export data from the database.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Build, publish and inspect snapshots.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Build and publish a new snapshot version to the object store (control-plane.md §7).
    /// Exit status: 0 published, 3 refused by a guard rail, 4 publishing on hold, 1 failure.
    Publish {
        /// Pass the guard rails (needs --reason).
        #[arg(long)]
        force: bool,
        /// Why (recorded in the publish log).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
        /// Wait at most this long for the publisher lock, e.g. 30s, 5m [default: 5m].
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        lock_timeout: Option<Duration>,
    },
    /// The configuration (control-plane.md §10).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The maintenance commands of control-plane.md §9.
    #[command(flatten)]
    Maintenance(MaintenanceCommand),
    /// Scan the master trees of `[[scanner.master]]` (control-plane.md §4): directories,
    /// repomd.xml and other file details with history, repositories by the mapping rules.
    /// Exit status: 0 done, 1 a category failed (the others are written), 2 configuration.
    Scan {
        /// Scan only this category (repeatable) [default: every `[[scanner.master]]`].
        #[arg(long = "category", value_name = "NAME")]
        categories: Vec<String>,
        /// List every directory and hash every file, as if nothing were known.
        #[arg(long)]
        full: bool,
        /// Print what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete directories even when more than scanner.max_delete_fraction of a category's
        /// are gone.
        #[arg(long)]
        force: bool,
        /// Wait at most this long for the scanner lock, e.g. 30s, 5m [default: 5m].
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        lock_timeout: Option<Duration>,
    },
    /// Repository mapping rules (control-plane.md §4.5).
    #[command(subcommand)]
    Repomap(RepomapCommand),
    /// Run the control plane: the HTTP server (`/healthz`, `/readyz`, `/metrics` on
    /// server.listen), the publisher, which publishes at start, after every change
    /// (debounced) and at least every publish.interval, and the background jobs (edge reports,
    /// expiry, the scan of `[[scanner.master]]` every scanner.interval). Stops on SIGINT or
    /// SIGTERM.
    Serve,
}

#[derive(Subcommand)]
enum RepomapCommand {
    /// Print the arch, version and prefix the rules give each repository path, and the rule
    /// that matched.
    Test {
        /// The category whose rule set, topdir and arches apply.
        #[arg(long, value_name = "NAME", conflicts_with = "ruleset")]
        category: Option<String>,
        /// A rule set by name, with the arches `init` creates (no database).
        #[arg(long, value_name = "NAME")]
        ruleset: Option<String>,
        /// Repository directories, below the topdir or full names.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<String>,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration, one `key = value  # origin` line per key, secrets
    /// masked.
    Show,
}

#[derive(Subcommand)]
enum AsnCommand {
    /// Replace the prefix→ASN table: lines `prefix/len ASN`, IPv4 and IPv6, `#` comments.
    Import {
        /// The table file.
        file: PathBuf,
        /// Source label recorded with it [default: the file name].
        #[arg(long, value_name = "LABEL")]
        source: Option<String>,
    },
    /// Show the stored table.
    Status,
}

#[derive(Subcommand)]
enum HostCommand {
    /// Take a host out of selection: admin_active = false, disable_reason = TEXT. Exit 2 for
    /// an unknown site or host; already disabled: exit 0, nothing changed.
    Disable {
        /// The site name and the host name, split at the last `/`.
        #[arg(value_name = "SITE/HOST")]
        target: String,
        /// Why (at most 500 characters; shown to owners and administrators).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Put a host back into selection: admin_active = true (its reason is cleared unless the
    /// crawler's auto-disable still holds). Exit 2 for an unknown site or host.
    Enable {
        /// The site name and the host name, split at the last `/`.
        #[arg(value_name = "SITE/HOST")]
        target: String,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// Reconcile the database to an inventory file, in one transaction (data-model.md §11).
    Inventory {
        /// The inventory file.
        file: PathBuf,
        /// Print what would change, change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Treat inventory warnings as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Import a MirrorManager2 PostgreSQL database (read-only, one transaction; re-running
    /// reconciles). Exit status 2 when the source cannot be imported (nothing is).
    Mm2 {
        /// The MirrorManager2 database: postgres://USER@HOST/DB.
        #[arg(long, value_name = "URL")]
        from: String,
        /// Print every change and transformation, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Delete content and mirror data not imported from this source first.
        #[arg(long)]
        replace: bool,
        /// Leave the access and propagation statistics alone.
        #[arg(long)]
        skip_stats: bool,
        /// Members of this MirrorManager2 group become administrators (repeatable).
        #[arg(long, value_name = "NAME")]
        admin_group: Vec<String>,
        /// Also restrict hosts to their `host_country` rows (the UI's "Countries Allowed").
        #[arg(long)]
        host_country_as_allowed: bool,
        /// Import hosts with an invalid country disabled instead of stopping.
        #[arg(long)]
        lenient: bool,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Write the database as an inventory file (data-model.md §11); deterministic, no secrets.
    Inventory {
        /// Write to FILE (atomically) instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Build a snapshot from an inventory file, without a database.
    Build {
        /// The inventory file (data-model.md §11).
        #[arg(long, value_name = "FILE")]
        inventory: PathBuf,
        /// Where to write the snapshot (written atomically).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// prefix→ASN table: lines `prefix/len ASN`, IPv4 and IPv6.
        #[arg(long, value_name = "FILE")]
        asn_table: Option<PathBuf>,
        /// Snapshot version [default: the current Unix time].
        #[arg(long, value_name = "N")]
        version: Option<u64>,
        /// Installation UUID [default: the fixed inventory UUID].
        #[arg(long, value_name = "UUID")]
        installation_id: Option<String>,
        /// Treat inventory warnings as errors.
        #[arg(long)]
        strict: bool,
    },
    /// Published versions: status, size, counts, creation time.
    List,
    /// Point the manifest back at a retained version and put publishing on hold.
    Rollback {
        /// The version to go back to.
        version: u64,
        /// Why (recorded in the hold reason and the publish log).
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Lift the hold and publish a new version at once (guard rails included).
    Resume,
    /// Validate a snapshot file completely and show what it holds.
    Inspect {
        /// The snapshot file.
        file: PathBuf,
        /// One JSON object on standard output.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let flags = ConfigFlags {
        config: cli.config,
        database_url: cli.database_url,
    };
    let config = match Config::load(&flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mirrorfleet: {e}");
            return ExitCode::from(2);
        }
    };
    let url = config.database.url.clone();
    let result = match cli.command {
        Command::Serve => serve(&config).map(|_| 0),
        Command::Config(ConfigCommand::Show) => {
            print!("{}", config.show());
            Ok(0)
        }
        Command::Init { installation_id } => block_on(db_cmd::initialise(
            &url,
            installation_id.as_deref(),
            &mut std::io::stdout(),
        ))
        .map(|_| 0),
        Command::Migrate => block_on(db_cmd::migrate(&url, &mut std::io::stdout())).map(|_| 0),
        Command::Asn(cmd) => block_on(async {
            let db = db_cmd::open_prepared(&url).await?;
            let data_dir = &config.data.dir;
            let result = match cmd {
                AsnCommand::Import { file, source } => {
                    asn_cmd::import(
                        &db,
                        data_dir,
                        &file,
                        source.as_deref(),
                        config.asn.max_bad_fraction,
                        &mut std::io::stdout(),
                        &mut std::io::stderr(),
                    )
                    .await
                }
                AsnCommand::Status => asn_cmd::status(&db, data_dir, &mut std::io::stdout()).await,
            };
            db.close().await;
            result
        })
        .map(|_| 0),
        Command::Host(cmd) => {
            let (target, switch) = match &cmd {
                HostCommand::Disable { target, reason } => (
                    target,
                    HostSwitch::Disable {
                        reason: reason.as_deref(),
                    },
                ),
                HostCommand::Enable { target } => (target, HostSwitch::Enable),
            };
            block_on(host_cmd::switch(
                &config,
                target,
                switch,
                &mut std::io::stdout(),
            ))
            .map(|_| 0)
        }
        Command::Import(ImportCommand::Inventory {
            file,
            dry_run,
            strict,
        }) => block_on(db_cmd::import(
            &url,
            &file,
            dry_run,
            strict,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        ))
        .map(|_| 0),
        Command::Import(ImportCommand::Mm2 {
            from,
            dry_run,
            replace,
            skip_stats,
            admin_group,
            host_country_as_allowed,
            lenient,
        }) => {
            let opts = mm2::Mm2Options {
                from,
                dry_run,
                replace,
                skip_stats,
                admin_groups: admin_group,
                host_country_as_allowed,
                lenient,
                argon2: config.auth.argon2.clone(),
            };
            block_on(mm2::command(&config, opts, &mut std::io::stdout())).map(|_| 0)
        }
        Command::Export(ExportCommand::Inventory { out }) => {
            block_on(db_cmd::export(&url, out.as_deref(), &mut std::io::stdout())).map(|_| 0)
        }
        Command::Snapshot(SnapshotCommand::Build {
            inventory,
            out,
            asn_table,
            version,
            installation_id,
            strict,
        }) => {
            let args = BuildArgs {
                inventory,
                out,
                asn_table,
                version,
                installation_id,
                strict,
                asn_max_bad_fraction: config.asn.max_bad_fraction,
            };
            snapshot_cmd::check_paths(&args)
                .and_then(|_| snapshot_cmd::build_snapshot(&args, &mut std::io::stderr()))
                .map(|_| 0)
        }
        Command::Publish {
            force,
            reason,
            lock_timeout,
        } => block_on(publish_cmd::publish(
            &config,
            force,
            reason.as_deref(),
            lock_timeout,
            &mut std::io::stdout(),
        ))
        .map(|_| 0),
        Command::Snapshot(SnapshotCommand::List) => {
            block_on(publish_cmd::list(&config, &mut std::io::stdout())).map(|_| 0)
        }
        Command::Snapshot(SnapshotCommand::Rollback { version, reason }) => block_on(
            publish_cmd::rollback(&config, version, reason.as_deref(), &mut std::io::stdout()),
        )
        .map(|_| 0),
        Command::Snapshot(SnapshotCommand::Resume) => {
            block_on(publish_cmd::resume(&config, &mut std::io::stdout())).map(|_| 0)
        }
        Command::Scan {
            categories,
            full,
            dry_run,
            force,
            lock_timeout,
        } => {
            let args = ScanArgs {
                categories,
                full,
                dry_run,
                force,
                lock_timeout,
            };
            block_on(scan_cmd::scan(
                &config,
                &args,
                &mut std::io::stdout(),
                &mut std::io::stderr(),
            ))
            .map(|_| 0)
        }
        Command::Repomap(RepomapCommand::Test {
            category,
            ruleset,
            paths,
        }) => block_on(scan_cmd::repomap_test(
            &config,
            category.as_deref(),
            ruleset.as_deref(),
            &paths,
            &mut std::io::stdout(),
        ))
        .map(|_| 0),
        Command::Maintenance(cmd) => block_on(mirrorfleet_control::maintenance::cmd::run(
            &config,
            cmd,
            &mut std::io::stdout(),
        ))
        .map(|_| 0),
        Command::Snapshot(SnapshotCommand::Inspect { file, json }) => {
            snapshot_cmd::inspect(&file, json, &mut std::io::stdout(), &mut std::io::stderr())
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if let Some(r) = e.downcast_ref::<Reported>() {
                eprintln!("mirrorfleet: {}", r.message);
                return ExitCode::from(r.status);
            }
            if let Some(pending @ DbError::PendingMigrations { .. }) = e.downcast_ref::<DbError>() {
                // control-plane.md §2: only `init` and `migrate` change the schema.
                eprintln!("mirrorfleet: {pending}");
                return ExitCode::from(2);
            }
            eprintln!("mirrorfleet: {}", error_chain(&e));
            ExitCode::from(1)
        }
    }
}

/// `mirrorfleet serve`, on a multi-threaded runtime.
fn serve(config: &Config) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(mirrorfleet_control::serve::command(config))
}

/// Runs a database command on a small runtime.
fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

/// The error and its causes on one line, skipping a cause whose text the line already holds
/// (several of our errors quote their source in their own message).
fn error_chain(e: &anyhow::Error) -> String {
    let mut line = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}
