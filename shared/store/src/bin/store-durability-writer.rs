//! Test helper for `tests/durability.rs`: writes to an embedded table under the given data
//! directory from many concurrent tasks, forever, and prints each key to stdout only after
//! its write was acknowledged. Whatever it printed must survive a SIGKILL at any moment.
//!
//! Half of the writes are single puts, half are two-item transactions, so group commits mix
//! both and a torn transaction would show up as one key present without its partner.

use billing_store::{AttributeValue, Condition, EmbeddedTable, Item, Table, TransactItem};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

/// Concurrent writers: enough that commits batch several writes together.
const WRITERS: usize = 16;
/// Writes per writer before it stops on its own (the test kills it long before).
const WRITES_PER_WRITER_MAX: u64 = 1_000_000;

fn item(sk: &str) -> Item {
    Item::from(HashMap::from([
        (
            "pk".to_string(),
            AttributeValue::S("durability".to_string()),
        ),
        ("sk".to_string(), AttributeValue::S(sk.to_string())),
        ("payload".to_string(), AttributeValue::S("x".repeat(100))),
    ]))
}

fn acknowledge(keys: &[&str]) {
    let mut stdout = std::io::stdout().lock();
    for key in keys {
        // A closed stdout means the test is gone; there is nobody left to tell.
        let _ = writeln!(stdout, "{key}");
    }
    let _ = stdout.flush();
}

async fn write_forever(table: Arc<dyn Table>, writer: usize) -> Result<(), String> {
    for sequence in 0..WRITES_PER_WRITER_MAX {
        let first = format!("w{writer:02}-{sequence:08}-a");
        if sequence % 2 == 0 {
            table
                .put(item(&first), Condition::NotExists)
                .await
                .map_err(|error| format!("put {first}: {error}"))?;
            acknowledge(&[&first]);
        } else {
            let second = format!("w{writer:02}-{sequence:08}-b");
            let actions = [&first, &second]
                .into_iter()
                .map(|sk| TransactItem::Put {
                    item: item(sk),
                    condition: Condition::NotExists,
                })
                .collect();
            table
                .transact_write(actions)
                .await
                .map_err(|error| format!("transaction {first}: {error}"))?;
            acknowledge(&[&first, &second]);
        }
    }
    Ok(())
}

fn main() -> Result<(), String> {
    let data_dir = std::env::args()
        .nth(1)
        .ok_or("usage: store-durability-writer DATA_DIR")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|error| format!("cannot start the runtime: {error}"))?;
    runtime.block_on(async {
        let table: Arc<dyn Table> = Arc::new(
            EmbeddedTable::open(&data_dir).map_err(|error| format!("cannot open: {error}"))?,
        );
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| tokio::spawn(write_forever(Arc::clone(&table), writer)))
            .collect();
        for writer in writers {
            writer
                .await
                .map_err(|error| format!("a writer task failed: {error}"))??;
        }
        Ok(())
    })
}
