//! An acknowledged write to the embedded backend is on disk: kill the writer with SIGKILL in
//! the middle of its work, reopen the data directory, and every key it acknowledged is there.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billing_store::{EmbeddedTable, Key, Table};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Acknowledged keys to wait for before the kill: enough for many group commits.
const ACKNOWLEDGED_BEFORE_KILL: usize = 3_000;
const WAIT_FOR_ACKNOWLEDGEMENTS_MAX: Duration = Duration::from_secs(120);

#[test]
fn every_acknowledged_write_survives_sigkill() {
    let data_dir = tempfile::tempdir().unwrap();
    let mut writer = Command::new(env!("CARGO_BIN_EXE_store-durability-writer"))
        .arg(data_dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the writer starts");

    // Lines arrive on a reader thread so the wait below can be bounded. Only complete lines
    // count: the writer may die in the middle of printing one.
    let stdout = writer.stdout.take().unwrap();
    let (lines, acknowledged) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut stdout = BufReader::new(stdout);
        let mut line = Vec::new();
        while stdout.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            if line.last() == Some(&b'\n') {
                let key = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                if lines.send(key).is_err() {
                    break;
                }
            }
            line.clear();
        }
    });

    let mut keys = Vec::new();
    while keys.len() < ACKNOWLEDGED_BEFORE_KILL {
        match acknowledged.recv_timeout(WAIT_FOR_ACKNOWLEDGEMENTS_MAX) {
            Ok(key) => keys.push(key),
            Err(error) => {
                let _ = writer.kill();
                panic!("only {} writes acknowledged before: {error}", keys.len());
            }
        }
    }
    // `Child::kill` is SIGKILL on Unix: no destructor, no flush, no clean shutdown.
    writer.kill().unwrap();
    let status = writer.wait().unwrap();
    assert!(!status.success(), "the writer was killed, not finished");
    reader.join().unwrap();
    keys.extend(acknowledged.try_iter());

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    runtime.block_on(async {
        let table = EmbeddedTable::open(data_dir.path()).expect("the data directory reopens");
        let mut missing = Vec::new();
        for key in &keys {
            if table
                .get(&Key::new("durability", key))
                .await
                .unwrap()
                .is_none()
            {
                missing.push(key.clone());
            }
        }
        assert!(
            missing.is_empty(),
            "{} of {} acknowledged keys lost, e.g. {:?}",
            missing.len(),
            keys.len(),
            &missing[..missing.len().min(5)]
        );
    });
}
