//! `billing-soak`: the reliability suite that attacks a running `billing-local` from outside
//! (docs/RELIABILITY.md).
//!
//! ```sh
//! billing-soak kill --seconds 60 [--seed N] [--store embedded|dynamodb]   # kill soak
//! billing-soak load --seconds 60 --connections 200 [--seed N] [--store …] # load without loss
//! ```
//!
//! It starts `$CARGO_TARGET_DIR/debug/billing-local` (or `--binary`) on 127.0.0.1 with the
//! test clock, a fresh data directory (or DynamoDB table, from `AWS_ENDPOINT_URL_DYNAMODB`),
//! drives it, SIGKILLs it and starts it again, and exits 1 when any discrepancy is found. A
//! failure prints its seed; `--seed` replays the same traffic and kill schedule (the kills land
//! on whatever request is running at that moment, so a replay is close, not identical).

mod client;
mod kill;
mod load;
mod server;
mod time;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Arg, ArgMatches, Command, value_parser};

use crate::server::{Server, Store};

fn cli() -> Command {
    let common = [
        Arg::new("seconds")
            .long("seconds")
            .env("SOAK_SECONDS")
            .value_parser(value_parser!(u64))
            .default_value("60")
            .help("how long the traffic runs"),
        Arg::new("seed")
            .long("seed")
            .env("SOAK_SEED")
            .value_parser(value_parser!(u64))
            .help("replays a run (default: from the time)"),
        Arg::new("store")
            .long("store")
            .value_parser(["embedded", "dynamodb"])
            .default_value("embedded"),
        Arg::new("binary")
            .long("binary")
            .env("BILLING_LOCAL_BIN")
            .value_parser(value_parser!(PathBuf))
            .help("billing-local to start (default: $CARGO_TARGET_DIR/debug/billing-local)"),
    ];
    Command::new("billing-soak")
        .about("Kill soak and load without loss against billing-local")
        .subcommand_required(true)
        .subcommand(
            Command::new("kill")
                .about("mixed traffic while SIGKILLing and restarting, then reconciliation")
                .args(common.clone())
                .arg(
                    Arg::new("kill-every-ms")
                        .long("kill-every-ms")
                        .value_parser(value_parser!(u64))
                        .num_args(2)
                        .default_values(["1000", "4000"])
                        .help("a kill comes after a random wait between these two (ms)"),
                ),
        )
        .subcommand(
            Command::new("load")
                .about("concurrent usage with one kill mid-run; nothing accepted lost or doubled")
                .args(common)
                .arg(
                    Arg::new("connections")
                        .long("connections")
                        .value_parser(value_parser!(usize))
                        .default_value("200"),
                )
                .arg(
                    Arg::new("pause-ms")
                        .long("pause-ms")
                        .env("SOAK_LOAD_PAUSE_MS")
                        .value_parser(value_parser!(u64))
                        .default_value("0")
                        .help("each connection's pause between requests (bounds the events to aggregate)"),
                ),
        )
}

fn binary(matches: &ArgMatches) -> PathBuf {
    matches
        .get_one::<PathBuf>("binary")
        .cloned()
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| PathBuf::from("target"), PathBuf::from);
            target.join("debug").join("billing-local")
        })
}

async fn main_result() -> Result<Vec<String>, String> {
    let matches = cli().get_matches();
    let (command, matches) = matches
        .subcommand()
        .ok_or("a subcommand is required: kill or load")?;
    let seconds = matches.get_one::<u64>("seconds").copied().unwrap_or(60);
    let seed = matches.get_one::<u64>("seed").copied().unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
    });
    let store = match matches.get_one::<String>("store").map(String::as_str) {
        Some("dynamodb") => Store::Dynamodb,
        _ => Store::Embedded,
    };
    let data = tempfile::Builder::new()
        .prefix("billing-soak-")
        .tempdir()
        .map_err(|e| format!("no temporary directory: {e}"))?;
    let table = format!("billing-soak-{command}-{}-{seed}", std::process::id());
    let label = format!("{} store", store.name());
    let discrepancies = match command {
        "kill" => {
            let every: Vec<u64> = matches
                .get_many::<u64>("kill-every-ms")
                .map(|v| v.copied().collect())
                .unwrap_or_default();
            let (low, high) = (
                every.first().copied().unwrap_or(1000),
                every.get(1).copied().unwrap_or(4000),
            );
            // Timers on, short: the runs also fire on their own, beside the driver's.
            let server = Server::new(
                binary(matches),
                data.path(),
                store,
                &table,
                &[
                    ("BILLING_INVOICE_RUN_EVERY", "3s".into()),
                    ("BILLING_PAYMENT_RUN_EVERY", "3s".into()),
                    ("STRIPE_WEBHOOK_SECRET", kill::WEBHOOK_SECRET.into()),
                    (
                        "BILLING_PAYMENT_LEASE_SECONDS",
                        kill::PAYMENT_LEASE_SECONDS.to_string(),
                    ),
                ],
            )?;
            let settings = kill::Settings {
                seed,
                seconds,
                kill_every_ms: (low.min(high), high.max(low)),
            };
            kill::run(server, settings, &label, data.path())
                .await?
                .discrepancies
        }
        _ => {
            let connections = matches
                .get_one::<usize>("connections")
                .copied()
                .unwrap_or(200);
            let server = Server::new(
                binary(matches),
                data.path(),
                store,
                &table,
                &[
                    ("BILLING_INVOICE_RUN_EVERY", "0".into()),
                    ("BILLING_PAYMENT_RUN_EVERY", "0".into()),
                    ("BILLING_USAGE_RATE_LIMIT", "1000000000".into()),
                ],
            )?;
            let pause = matches.get_one::<u64>("pause-ms").copied().unwrap_or(0);
            let settings = load::Settings {
                seed,
                seconds,
                connections,
                pause: std::time::Duration::from_millis(pause),
            };
            load::run(server, settings, &label).await?
        }
    };
    if !discrepancies.is_empty() {
        // Keep billing-local's log and data for the post-mortem.
        let kept = data.keep();
        eprintln!("billing-soak: data and log kept in {}", kept.display());
    }
    Ok(discrepancies)
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> ExitCode {
    match main_result().await {
        Ok(d) if d.is_empty() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("billing-soak: {error}");
            ExitCode::from(2)
        }
    }
}
