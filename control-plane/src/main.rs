//! `mirrorfleet`: the control-plane command. Thin glue over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mirrorfleet_control::snapshot_cmd::{self, BuildArgs, Reported};

/// mirrorfleet control plane.
#[derive(Parser)]
#[command(
    name = "mirrorfleet",
    version,
    about = "mirrorfleet control plane: inventories, snapshots, publishing"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build and inspect snapshot files.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
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
    let result = match cli.command {
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
            };
            snapshot_cmd::check_paths(&args)
                .and_then(|_| snapshot_cmd::build_snapshot(&args, &mut std::io::stderr()))
                .map(|_| 0)
        }
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
            eprintln!("mirrorfleet: {e:#}");
            ExitCode::from(1)
        }
    }
}
