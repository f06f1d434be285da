//! Fuzz target of query cursors (issue 19.3), on every backend, run with `bolero`: as a normal
//! test it replays `tests/store/__fuzz__/fuzz__query_cursor/corpus` and tries random cursors for a few
//! seconds (on DynamoDB Local too when `AWS_ENDPOINT_URL_DYNAMODB` is set, as
//! `infra/with-services.sh` does); `cargo bolero test -p billing-store --test store
//! fuzz::query_cursor` fuzzes it for real.
//!
//! A cursor comes from the wire, so anything may arrive: hex or not, JSON or not, the right
//! key attributes with any values, out of the query's range. Properties: a page or
//! `InvalidCursor`, never a panic or another error (which the API would answer with a 5xx),
//! and both backends agree on which.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use billing_store::testing as fixtures;
use billing_store::{
    AttributeValue, Condition, Direction, Index, Item, Query, SortKeyCondition, StoreError, Table,
};

const TEST_TIME: Duration = Duration::from_secs(3);
const PARTITION: &str = "P";

fn item(pk: &str, sk: &str) -> Item {
    Item::from(std::collections::HashMap::from([
        ("pk".to_string(), AttributeValue::S(pk.into())),
        ("sk".to_string(), AttributeValue::S(sk.into())),
    ]))
}

async fn seeded(table: &Arc<dyn Table>) {
    for sk in ["A#1", "A#2", "A#3", "B#1", "B#2"] {
        table
            .put(item(PARTITION, sk), Condition::Always)
            .await
            .unwrap();
    }
}

/// Which cursor `input` makes: its first byte chooses how, the rest is the material.
fn cursor_of(input: &[u8]) -> (SortKeyCondition, Direction, String) {
    let (choice, rest) = input.split_first().unwrap_or((&0, &[]));
    let text = String::from_utf8_lossy(rest).into_owned();
    let sort = match choice % 4 {
        0 => SortKeyCondition::All,
        1 => SortKeyCondition::BeginsWith("A#".into()),
        2 => SortKeyCondition::Between("A#2".into(), "B#1".into()),
        _ => SortKeyCondition::GreaterThan("A#1".into()),
    };
    let direction = if choice & 4 == 0 {
        Direction::Forward
    } else {
        Direction::Backward
    };
    let cursor = match (choice >> 3) % 4 {
        // The right attributes, the sort key from the input (in range or not, empty...).
        0 => hex::encode(
            serde_json::to_vec(&serde_json::json!({"pk": PARTITION, "sk": text})).unwrap(),
        ),
        // Another partition's position.
        1 => {
            hex::encode(serde_json::to_vec(&serde_json::json!({"pk": text, "sk": "A#1"})).unwrap())
        }
        // Any bytes, hex-encoded (JSON or not).
        2 => hex::encode(rest),
        // The input itself.
        _ => text,
    };
    (sort, direction, cursor)
}

/// `Ok(true)` a page, `Ok(false)` refused as `InvalidCursor`; anything else is a finding.
async fn outcome(table: &dyn Table, input: &[u8]) -> Result<bool, String> {
    let (sort, direction, cursor) = cursor_of(input);
    let mut query = Query::partition(Index::Primary, PARTITION, 2).sort(sort);
    query.direction = direction;
    query.cursor = Some(cursor.clone());
    match table.query(query).await {
        Ok(_) => Ok(true),
        Err(StoreError::InvalidCursor) => Ok(false),
        Err(other) => Err(format!("cursor {cursor:?}: {other}")),
    }
}

#[test]
fn query_cursor() {
    static INPUTS: AtomicU64 = AtomicU64::new(0);
    static PAGES: AtomicU64 = AtomicU64::new(0);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (embedded, dynamodb) = runtime.block_on(async {
        let embedded = fixtures::embedded("fuzz_cursor").await.unwrap();
        seeded(&embedded.table).await;
        let dynamodb = fixtures::dynamodb("fuzz_cursor").await;
        if let Some(fixture) = &dynamodb {
            seeded(&fixture.table).await;
        }
        (embedded, dynamodb)
    });
    let rig = std::panic::AssertUnwindSafe((&runtime, &embedded, &dynamodb));
    bolero::check!()
        .with_test_time(TEST_TIME)
        .for_each(|input: &[u8]| {
            let (runtime, embedded, dynamodb) = *rig;
            INPUTS.fetch_add(1, Ordering::Relaxed);
            runtime.block_on(async {
                let local = outcome(embedded.table.as_ref(), input).await.unwrap();
                if let Some(fixture) = dynamodb {
                    let aws = outcome(fixture.table.as_ref(), input).await.unwrap();
                    assert_eq!(
                        local,
                        aws,
                        "the backends disagree on {:?}",
                        cursor_of(input)
                    );
                }
                if local {
                    PAGES.fetch_add(1, Ordering::Relaxed);
                }
            });
        });
    eprintln!(
        "fuzz query_cursor: {} inputs ({} pages; DynamoDB Local {}), 0 findings",
        INPUTS.load(Ordering::Relaxed),
        PAGES.load(Ordering::Relaxed),
        if dynamodb.is_some() { "too" } else { "skipped" }
    );
}
