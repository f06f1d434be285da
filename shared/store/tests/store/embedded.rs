//! Properties of the embedded backend beyond the shared conformance suite: group commit,
//! persistence across reopen, and exclusive ownership of a data directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billing_store::{AttributeValue, Condition, EmbeddedTable, Item, Key, Table};
use std::collections::HashMap;
use std::sync::Arc;

fn item(sk: &str) -> Item {
    Item::from(HashMap::from([
        ("pk".to_string(), AttributeValue::S("p".to_string())),
        ("sk".to_string(), AttributeValue::S(sk.to_string())),
    ]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_commits() {
    const WRITES: u64 = 256;
    let data_dir = tempfile::tempdir().unwrap();
    let table = Arc::new(EmbeddedTable::open(data_dir.path()).unwrap());
    let tasks: Vec<_> = (0..WRITES)
        .map(|i| {
            let table = Arc::clone(&table);
            tokio::spawn(async move {
                table
                    .put(item(&format!("{i:04}")), Condition::NotExists)
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let stats = table.stats();
    assert_eq!(stats.writes, WRITES);
    // One fsync per write would make `commits == WRITES`; the writer folds queued writes
    // into one commit while the previous one syncs.
    assert!(stats.commits * 2 <= WRITES, "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_survives_closing_and_reopening() {
    let data_dir = tempfile::tempdir().unwrap();
    {
        let table = EmbeddedTable::open(data_dir.path()).unwrap();
        table.put(item("kept"), Condition::NotExists).await.unwrap();
    }
    let reopened = EmbeddedTable::open(data_dir.path()).unwrap();
    assert_eq!(
        reopened.get(&Key::new("p", "kept")).await.unwrap(),
        Some(item("kept"))
    );
    assert!(
        reopened
            .put(item("kept"), Condition::NotExists)
            .await
            .unwrap_err()
            .is_condition_failed()
    );
}

#[test]
fn one_data_directory_has_one_owner() {
    let data_dir = tempfile::tempdir().unwrap();
    let _owner = EmbeddedTable::open(data_dir.path()).unwrap();
    assert!(EmbeddedTable::open(data_dir.path()).is_err());
}
