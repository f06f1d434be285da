//! One conformance suite, run against every backend: each case is written once, as an async
//! function over `Arc<dyn Table>`, and instantiated per backend by
//! `billing_store::on_every_backend!`.
//!
//! The DynamoDB instance reads its endpoint from `AWS_ENDPOINT_URL_DYNAMODB` (see
//! `infra/with-dynamodb-local.sh`) and gives every test its own fresh table. Without that
//! variable its tests fail, unless `BILLING_SKIP_DYNAMODB=1` skips them (each says so).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billing_store::{AttributeValue, Item, Table};
use std::sync::Arc;

pub fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

pub fn n(number: i64) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

pub fn item(pk: &str, sk: &str, attributes: &[(&str, AttributeValue)]) -> Item {
    let mut item = Item::from(std::collections::HashMap::from([
        ("pk".to_string(), s(pk)),
        ("sk".to_string(), s(sk)),
    ]));
    for (name, value) in attributes {
        item.insert((*name).to_string(), value.clone());
    }
    item
}

mod cases {
    use super::*;
    use billing_store::limits::{ITEM_SIZE_MAX_BYTES, TRANSACT_ITEMS_MAX};
    use billing_store::{
        CancellationReason, Condition, Direction, Index, Key, Query, SortKeyCondition, StoreError,
        TransactItem, Update, now_epoch_seconds,
    };
    use std::collections::HashSet;

    fn text<'a>(item: &'a Item, name: &str) -> &'a str {
        match item.get(name) {
            Some(AttributeValue::S(text)) => text,
            other => panic!("{name} is not a string: {other:?}"),
        }
    }

    fn number(item: &Item, name: &str) -> i64 {
        match item.get(name) {
            Some(AttributeValue::N(number)) => number.parse().unwrap(),
            other => panic!("{name} is not a number: {other:?}"),
        }
    }

    /// Every page of `query`, in order, refusing to loop forever on a broken cursor.
    async fn all_pages(table: &dyn Table, query: Query) -> Vec<Vec<Item>> {
        let mut pages = Vec::new();
        let mut cursor = None;
        for _ in 0..1_000 {
            let page = table.query(query.clone().after(cursor)).await.unwrap();
            assert!(page.items.len() <= query.limit, "a page exceeded its limit");
            pages.push(page.items);
            match page.next {
                Some(next) => cursor = Some(next),
                None => return pages,
            }
        }
        panic!("a query did not end after 1000 pages");
    }

    async fn sort_keys(table: &dyn Table, query: Query) -> Vec<String> {
        all_pages(table, query)
            .await
            .into_iter()
            .flatten()
            .map(|item| text(&item, "sk").to_string())
            .collect()
    }

    pub async fn an_item_reads_back_as_written_until_deleted(table: Arc<dyn Table>) {
        let key = Key::new("customer#1", "profile");
        assert_eq!(table.get(&key).await.unwrap(), None);
        let written = item(
            "customer#1",
            "profile",
            &[
                ("name", s("Ada")),
                ("balance", n(-1250)),
                ("tags", AttributeValue::Ss(vec!["a".into(), "b".into()])),
                (
                    "nested",
                    AttributeValue::M([("x".to_string(), n(1))].into()),
                ),
                ("flag", AttributeValue::Bool(true)),
            ],
        );
        table.put(written.clone(), Condition::Always).await.unwrap();
        assert_eq!(table.get(&key).await.unwrap(), Some(written));
        table.delete(&key, Condition::Always).await.unwrap();
        assert_eq!(table.get(&key).await.unwrap(), None);
        // Deleting what is not there succeeds, as in DynamoDB.
        table.delete(&key, Condition::Always).await.unwrap();
    }

    pub async fn concurrent_creates_of_one_key_have_exactly_one_winner(table: Arc<dyn Table>) {
        const CONTENDERS: usize = 32;
        let tasks: Vec<_> = (0..CONTENDERS)
            .map(|contender| {
                let table = Arc::clone(&table);
                tokio::spawn(async move {
                    let attempt = item("race", "winner", &[("by", n(contender as i64))]);
                    (contender, table.put(attempt, Condition::NotExists).await)
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (contender, Ok(())) => winners.push(contender),
                (_, Err(StoreError::ConditionFailed)) => {}
                (_, Err(other)) => panic!("a lost race must be ConditionFailed, got {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "winners: {winners:?}");
        let stored = table
            .get(&Key::new("race", "winner"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(number(&stored, "by"), winners[0] as i64);
    }

    pub async fn typed_conditions_guard_puts_updates_and_deletes(table: Arc<dyn Table>) {
        let key = Key::new("invoice#7", "meta");
        let missing = table
            .put(item("invoice#7", "meta", &[]), Condition::Exists)
            .await;
        assert!(matches!(missing, Err(StoreError::ConditionFailed)));
        let refused_update = table
            .update(
                &key,
                Update::new().set("status", s("paid")),
                Condition::Exists,
            )
            .await;
        assert!(matches!(refused_update, Err(StoreError::ConditionFailed)));
        assert_eq!(
            table.get(&key).await.unwrap(),
            None,
            "a refused update creates nothing"
        );

        table
            .put(
                item("invoice#7", "meta", &[("status", s("open"))]),
                Condition::NotExists,
            )
            .await
            .unwrap();
        let wrong_status = Condition::AttributeEquals("status".to_string(), s("draft"));
        assert!(matches!(
            table.delete(&key, wrong_status.clone()).await,
            Err(StoreError::ConditionFailed)
        ));
        assert!(table.get(&key).await.unwrap().is_some());
        // Same value, other type: not equal.
        let status_as_number = Condition::AttributeEquals("status".to_string(), n(1));
        assert!(matches!(
            table
                .update(&key, Update::new().set("x", n(1)), status_as_number)
                .await,
            Err(StoreError::ConditionFailed)
        ));
        let open = Condition::AttributeEquals("status".to_string(), s("open"));
        let updated = table
            .update(&key, Update::new().set("status", s("paid")), open.clone())
            .await
            .unwrap();
        assert_eq!(text(&updated, "status"), "paid");
        assert!(matches!(
            table.delete(&key, open).await,
            Err(StoreError::ConditionFailed)
        ));
        table.delete(&key, Condition::Exists).await.unwrap();
        assert!(matches!(
            table.delete(&key, Condition::Exists).await,
            Err(StoreError::ConditionFailed)
        ));
    }

    pub async fn updates_set_add_and_remove_and_create_missing_items(table: Arc<dyn Table>) {
        let key = Key::new("usage#u1", "2026-11");
        let created = table
            .update(
                &key,
                Update::new().add("units", 5).set("plan", s("pro")),
                Condition::Always,
            )
            .await
            .unwrap();
        assert_eq!(number(&created, "units"), 5);
        assert_eq!(text(&created, "pk"), "usage#u1");
        let added = table
            .update(
                &key,
                Update::new().add("units", 37).remove("plan"),
                Condition::Exists,
            )
            .await
            .unwrap();
        assert_eq!(number(&added, "units"), 42);
        assert!(!added.contains_key("plan"));
        assert_eq!(table.get(&key).await.unwrap(), Some(added));
        let touches_key = table
            .update(&key, Update::new().set("sk", s("other")), Condition::Always)
            .await;
        assert!(matches!(touches_key, Err(StoreError::InvalidRequest(_))));
        let adds_to_text = table
            .update(
                &Key::new("usage#u1", "2026-11"),
                Update::new().set("plan", s("x")),
                Condition::Always,
            )
            .await
            .and(
                table
                    .update(&key, Update::new().add("plan", 1), Condition::Always)
                    .await,
            );
        assert!(matches!(adds_to_text, Err(StoreError::InvalidRequest(_))));
    }

    pub async fn optimistic_locking_loses_no_update(table: Arc<dyn Table>) {
        const WRITERS: i64 = 8;
        const INCREMENTS_EACH: i64 = 5;
        let key = Key::new("counter", "c");
        table
            .put(
                item("counter", "c", &[("version", n(0)), ("total", n(0))]),
                Condition::NotExists,
            )
            .await
            .unwrap();
        // Two writers read version 0; only the first to write may win.
        table
            .put(
                item("counter", "c", &[("version", n(1)), ("total", n(0))]),
                Condition::VersionEquals(0),
            )
            .await
            .unwrap();
        let stale = table
            .put(
                item("counter", "c", &[("version", n(1)), ("total", n(99))]),
                Condition::VersionEquals(0),
            )
            .await;
        assert!(matches!(stale, Err(StoreError::ConditionFailed)));

        let tasks: Vec<_> = (0..WRITERS)
            .map(|_| {
                let table = Arc::clone(&table);
                let key = key.clone();
                tokio::spawn(async move {
                    let mut conflicts = 0u32;
                    for _ in 0..INCREMENTS_EACH {
                        loop {
                            let current = table.get(&key).await.unwrap().unwrap();
                            let version = number(&current, "version");
                            let update = Update::new()
                                .set("version", n(version + 1))
                                .set("total", n(number(&current, "total") + 1));
                            match table
                                .update(&key, update, Condition::VersionEquals(version as u64))
                                .await
                            {
                                Ok(_) => break,
                                Err(
                                    StoreError::ConditionFailed | StoreError::TransactionConflict,
                                ) => {
                                    conflicts += 1;
                                    assert!(conflicts < 10_000, "livelock");
                                }
                                Err(other) => panic!("{other}"),
                            }
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let last = table.get(&key).await.unwrap().unwrap();
        assert_eq!(number(&last, "total"), WRITERS * INCREMENTS_EACH);
        assert_eq!(number(&last, "version"), WRITERS * INCREMENTS_EACH + 1);
    }

    pub async fn a_failed_condition_cancels_the_whole_transaction(table: Arc<dyn Table>) {
        table
            .put(
                item(
                    "sub#1",
                    "state",
                    &[("status", s("active")), ("version", n(3))],
                ),
                Condition::Always,
            )
            .await
            .unwrap();
        table
            .put(
                item("sub#1", "invoice#2026-11", &[("total", n(100))]),
                Condition::Always,
            )
            .await
            .unwrap();
        let transaction = vec![
            TransactItem::Put {
                item: item("sub#1", "audit#1", &[("event", s("renewed"))]),
                condition: Condition::NotExists,
            },
            TransactItem::Update {
                key: Key::new("sub#1", "state"),
                update: Update::new()
                    .set("status", s("renewed"))
                    .set("version", n(4)),
                condition: Condition::VersionEquals(3),
            },
            // The invoice for this period already exists: the whole renewal must not happen.
            TransactItem::Put {
                item: item("sub#1", "invoice#2026-11", &[("total", n(999))]),
                condition: Condition::NotExists,
            },
            TransactItem::Delete {
                key: Key::new("sub#1", "pending"),
                condition: Condition::Always,
            },
        ];
        match table.transact_write(transaction).await {
            Err(StoreError::TransactionCanceled { reasons }) => assert_eq!(
                reasons,
                vec![
                    CancellationReason::None,
                    CancellationReason::None,
                    CancellationReason::ConditionFailed,
                    CancellationReason::None,
                ]
            ),
            other => panic!("expected a canceled transaction, got {other:?}"),
        }
        assert_eq!(
            table.get(&Key::new("sub#1", "audit#1")).await.unwrap(),
            None
        );
        let state = table
            .get(&Key::new("sub#1", "state"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(text(&state, "status"), "active");
        let invoice = table
            .get(&Key::new("sub#1", "invoice#2026-11"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(number(&invoice, "total"), 100);

        // A failing condition check cancels too, and is reported at its own position.
        let checked = table
            .transact_write(vec![
                TransactItem::ConditionCheck {
                    key: Key::new("sub#1", "state"),
                    condition: Condition::AttributeEquals("status".into(), s("canceled")),
                },
                TransactItem::Put {
                    item: item("sub#1", "audit#2", &[]),
                    condition: Condition::Always,
                },
            ])
            .await;
        match checked {
            Err(error @ StoreError::TransactionCanceled { .. }) => {
                assert!(error.is_condition_failed());
                let StoreError::TransactionCanceled { reasons } = error else {
                    unreachable!()
                };
                assert_eq!(
                    reasons,
                    vec![
                        CancellationReason::ConditionFailed,
                        CancellationReason::None
                    ]
                );
            }
            other => panic!("expected a canceled transaction, got {other:?}"),
        }
        assert_eq!(
            table.get(&Key::new("sub#1", "audit#2")).await.unwrap(),
            None
        );

        // With every condition holding, every action applies.
        table
            .transact_write(vec![
                TransactItem::Put {
                    item: item("sub#1", "audit#1", &[("event", s("renewed"))]),
                    condition: Condition::NotExists,
                },
                TransactItem::Update {
                    key: Key::new("sub#1", "state"),
                    update: Update::new()
                        .set("status", s("renewed"))
                        .set("version", n(4)),
                    condition: Condition::VersionEquals(3),
                },
                TransactItem::Delete {
                    key: Key::new("sub#1", "invoice#2026-11"),
                    condition: Condition::Exists,
                },
                TransactItem::ConditionCheck {
                    key: Key::new("sub#1", "nothing"),
                    condition: Condition::NotExists,
                },
            ])
            .await
            .unwrap();
        assert!(
            table
                .get(&Key::new("sub#1", "audit#1"))
                .await
                .unwrap()
                .is_some()
        );
        let state = table
            .get(&Key::new("sub#1", "state"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(number(&state, "version"), 4);
        assert_eq!(
            table
                .get(&Key::new("sub#1", "invoice#2026-11"))
                .await
                .unwrap(),
            None
        );
    }

    pub async fn a_transaction_holds_up_to_100_actions_on_distinct_items(table: Arc<dyn Table>) {
        let puts = |count: usize, partition: &str| -> Vec<TransactItem> {
            (0..count)
                .map(|i| TransactItem::Put {
                    item: item(partition, &format!("event#{i:03}"), &[("units", n(1))]),
                    condition: Condition::NotExists,
                })
                .collect()
        };
        table
            .transact_write(puts(TRANSACT_ITEMS_MAX, "batch#a"))
            .await
            .unwrap();
        let written = sort_keys(&*table, Query::partition(Index::Primary, "batch#a", 1000)).await;
        assert_eq!(written.len(), TRANSACT_ITEMS_MAX);

        match table
            .transact_write(puts(TRANSACT_ITEMS_MAX + 1, "batch#b"))
            .await
        {
            Err(StoreError::TooManyTransactItems { count, max }) => {
                assert_eq!((count, max), (TRANSACT_ITEMS_MAX + 1, TRANSACT_ITEMS_MAX));
            }
            other => panic!("expected TooManyTransactItems, got {other:?}"),
        }
        assert!(
            sort_keys(&*table, Query::partition(Index::Primary, "batch#b", 10))
                .await
                .is_empty()
        );

        let twice = vec![
            TransactItem::Put {
                item: item("batch#c", "x", &[]),
                condition: Condition::Always,
            },
            TransactItem::Delete {
                key: Key::new("batch#c", "x"),
                condition: Condition::Always,
            },
        ];
        assert!(matches!(
            table.transact_write(twice).await,
            Err(StoreError::InvalidRequest(_))
        ));
    }

    pub async fn cursors_page_through_a_partition_both_ways(table: Arc<dyn Table>) {
        let expected: Vec<String> = (0..23).map(|i| format!("usage#{i:03}")).collect();
        for sk in &expected {
            table
                .put(item("user#9", sk, &[]), Condition::Always)
                .await
                .unwrap();
        }
        // Neighbours that must never leak into the pages.
        table
            .put(item("user#9", "usagf", &[]), Condition::Always)
            .await
            .unwrap();
        table
            .put(item("user#9", "profile", &[]), Condition::Always)
            .await
            .unwrap();
        table
            .put(item("user#90", "usage#000", &[]), Condition::Always)
            .await
            .unwrap();
        table
            .put(item("user#8", "usage#000", &[]), Condition::Always)
            .await
            .unwrap();

        let query = Query::partition(Index::Primary, "user#9", 5)
            .sort(SortKeyCondition::BeginsWith("usage#".into()));
        let forward = all_pages(&*table, query.clone()).await;
        assert!(
            forward[..forward.len() - 1]
                .iter()
                .all(|page| page.len() == 5)
        );
        let forward: Vec<String> = forward
            .into_iter()
            .flatten()
            .map(|item| text(&item, "sk").to_string())
            .collect();
        assert_eq!(forward, expected);

        let backward = sort_keys(&*table, query.direction(Direction::Backward)).await;
        let mut reversed = expected.clone();
        reversed.reverse();
        assert_eq!(backward, reversed);

        let whole = sort_keys(&*table, Query::partition(Index::Primary, "user#9", 4)).await;
        assert_eq!(whole.len(), expected.len() + 2);
        assert!(
            whole.windows(2).all(|pair| pair[0] < pair[1]),
            "sorted: {whole:?}"
        );

        let foreign = table
            .query(Query::partition(Index::Primary, "user#9", 5))
            .await
            .unwrap()
            .next
            .unwrap();
        let misuse = table
            .query(Query::partition(Index::Primary, "user#8", 5).after(Some(foreign)))
            .await;
        assert!(matches!(misuse, Err(StoreError::InvalidCursor)));
    }

    pub async fn sort_key_conditions_select_ranges(table: Arc<dyn Table>) {
        for sk in ["a", "b", "b#1", "b#2", "c", "d"] {
            table
                .put(item("p", sk, &[]), Condition::Always)
                .await
                .unwrap();
        }
        let select = |condition: SortKeyCondition, direction: Direction| {
            let table = Arc::clone(&table);
            async move {
                let query = Query::partition(Index::Primary, "p", 2)
                    .sort(condition)
                    .direction(direction);
                sort_keys(&*table, query).await
            }
        };
        use Direction::{Backward, Forward};
        use SortKeyCondition::*;
        assert_eq!(select(Equals("b".into()), Forward).await, ["b"]);
        assert_eq!(
            select(BeginsWith("b".into()), Forward).await,
            ["b", "b#1", "b#2"]
        );
        assert_eq!(
            select(BeginsWith("b#".into()), Backward).await,
            ["b#2", "b#1"]
        );
        assert_eq!(
            select(Between("b#1".into(), "c".into()), Forward).await,
            ["b#1", "b#2", "c"]
        );
        assert_eq!(select(LessThan("b#1".into()), Backward).await, ["b", "a"]);
        assert_eq!(
            select(LessOrEqual("b#1".into()), Forward).await,
            ["a", "b", "b#1"]
        );
        assert_eq!(select(GreaterThan("b#2".into()), Forward).await, ["c", "d"]);
        assert_eq!(
            select(GreaterOrEqual("b#2".into()), Backward).await,
            ["d", "c", "b#2"]
        );
        assert!(select(BeginsWith("e".into()), Forward).await.is_empty());
    }

    pub async fn gsi_queries_follow_index_keys(table: Arc<dyn Table>) {
        // Invoices of two customers, indexed by status in gsi1 and by customer in gsi2.
        let mut expected_open = Vec::new();
        for i in 0..12 {
            let status = if i % 3 == 0 { "paid" } else { "open" };
            // Repeated index sort keys: ties must still page without loss or repetition.
            let due = format!("2026-11-{:02}", 10 + i / 4);
            let mut attributes = vec![
                ("gsi1pk", s(format!("status#{status}"))),
                ("gsi1sk", s(due.clone())),
                ("amount", n(i)),
            ];
            if i % 2 == 0 {
                attributes.push(("gsi2pk", s("customer#even")));
                attributes.push(("gsi2sk", s(format!("inv#{i:02}"))));
            }
            table
                .put(
                    item(&format!("invoice#{i:02}"), "meta", &attributes),
                    Condition::Always,
                )
                .await
                .unwrap();
            if status == "open" {
                expected_open.push((due, format!("invoice#{i:02}")));
            }
        }
        // Not in gsi1: it lacks gsi1sk.
        table
            .put(
                item("invoice#99", "meta", &[("gsi1pk", s("status#open"))]),
                Condition::Always,
            )
            .await
            .unwrap();

        let open_pages = all_pages(&*table, Query::partition(Index::Gsi1, "status#open", 3)).await;
        let open: Vec<(String, String)> = open_pages
            .into_iter()
            .flatten()
            .map(|item| {
                (
                    text(&item, "gsi1sk").to_string(),
                    text(&item, "pk").to_string(),
                )
            })
            .collect();
        let mut expected_sorted = expected_open.clone();
        expected_sorted.sort();
        let mut got_sorted = open.clone();
        got_sorted.sort();
        assert_eq!(
            got_sorted, expected_sorted,
            "every open invoice exactly once"
        );
        assert!(
            open.windows(2).all(|pair| pair[0].0 <= pair[1].0),
            "ordered by gsi1sk"
        );

        let backward: Vec<String> = all_pages(
            &*table,
            Query::partition(Index::Gsi1, "status#open", 2)
                .direction(Direction::Backward)
                .sort(SortKeyCondition::BeginsWith("2026-11-1".into())),
        )
        .await
        .into_iter()
        .flatten()
        .map(|item| text(&item, "pk").to_string())
        .collect();
        assert_eq!(backward.len(), expected_open.len());
        assert_eq!(
            backward.iter().collect::<HashSet<_>>().len(),
            backward.len()
        );

        let even: Vec<String> =
            all_pages(&*table, Query::partition(Index::Gsi2, "customer#even", 4))
                .await
                .into_iter()
                .flatten()
                .map(|item| text(&item, "gsi2sk").to_string())
                .collect();
        assert_eq!(
            even,
            ["inv#00", "inv#02", "inv#04", "inv#06", "inv#08", "inv#10"]
        );
        assert!(
            table
                .query(Query::partition(Index::Gsi3, "status#open", 10))
                .await
                .unwrap()
                .items
                .is_empty()
        );

        // Moving an item between index partitions, and out of an index.
        table
            .update(
                &Key::new("invoice#01", "meta"),
                Update::new()
                    .set("gsi1pk", s("status#paid"))
                    .remove("gsi2pk"),
                Condition::Exists,
            )
            .await
            .unwrap();
        let open_now: Vec<String> =
            all_pages(&*table, Query::partition(Index::Gsi1, "status#open", 100))
                .await
                .into_iter()
                .flatten()
                .map(|item| text(&item, "pk").to_string())
                .collect();
        assert!(!open_now.contains(&"invoice#01".to_string()));
        let paid = table
            .query(
                Query::partition(Index::Gsi1, "status#paid", 100)
                    .sort(SortKeyCondition::Equals("2026-11-10".into())),
            )
            .await
            .unwrap();
        assert!(
            paid.items
                .iter()
                .any(|item| text(item, "pk") == "invoice#01")
        );
        table
            .delete(&Key::new("invoice#00", "meta"), Condition::Always)
            .await
            .unwrap();
        let even_now = table
            .query(Query::partition(Index::Gsi2, "customer#even", 100))
            .await
            .unwrap();
        assert_eq!(even_now.items.len(), 5);
    }

    pub async fn expired_items_are_absent(table: Arc<dyn Table>) {
        let now = now_epoch_seconds();
        let expired = item(
            "session#1",
            "token",
            &[
                ("expires_at", n(now - 60)),
                ("gsi1pk", s("sessions")),
                ("gsi1sk", s("1")),
            ],
        );
        let live = item(
            "session#1",
            "token2",
            &[
                ("expires_at", n(now + 3600)),
                ("gsi1pk", s("sessions")),
                ("gsi1sk", s("2")),
            ],
        );
        table.put(expired, Condition::Always).await.unwrap();
        table.put(live.clone(), Condition::Always).await.unwrap();

        assert_eq!(
            table.get(&Key::new("session#1", "token")).await.unwrap(),
            None
        );
        assert_eq!(
            table.get(&Key::new("session#1", "token2")).await.unwrap(),
            Some(live.clone())
        );
        let page = table
            .query(Query::partition(Index::Primary, "session#1", 10))
            .await
            .unwrap();
        assert_eq!(page.items, vec![live.clone()]);
        // A page of one must skip the expired item rather than come back empty.
        let first = table
            .query(Query::partition(Index::Primary, "session#1", 1))
            .await
            .unwrap();
        assert_eq!(first.items, vec![live.clone()]);
        let by_index = table
            .query(Query::partition(Index::Gsi1, "sessions", 10))
            .await
            .unwrap();
        assert_eq!(by_index.items, vec![live]);

        // Conditions see the expired item as absent too.
        let key = Key::new("session#1", "token");
        assert!(matches!(
            table.delete(&key, Condition::Exists).await,
            Err(StoreError::ConditionFailed)
        ));
        table
            .put(
                item("session#1", "token", &[("expires_at", n(now + 3600))]),
                Condition::NotExists,
            )
            .await
            .unwrap();
        assert!(table.get(&key).await.unwrap().is_some());
    }

    pub async fn a_350_kb_item_round_trips_and_a_larger_one_is_refused(table: Arc<dyn Table>) {
        let body: Vec<u8> = (0..350 * 1024).map(|i| (i % 251) as u8).collect();
        let large = item("blob#1", "body", &[("bytes", AttributeValue::B(body))]);
        table
            .put(large.clone(), Condition::NotExists)
            .await
            .unwrap();
        assert_eq!(
            table.get(&Key::new("blob#1", "body")).await.unwrap(),
            Some(large.clone())
        );
        let page = table
            .query(Query::partition(Index::Primary, "blob#1", 10))
            .await
            .unwrap();
        assert_eq!(page.items, vec![large]);

        let too_large = item(
            "blob#2",
            "body",
            &[("text", s("x".repeat(ITEM_SIZE_MAX_BYTES + 1)))],
        );
        assert!(matches!(
            table.put(too_large, Condition::Always).await,
            Err(StoreError::ItemTooLarge { .. })
        ));
        assert_eq!(table.get(&Key::new("blob#2", "body")).await.unwrap(), None);
    }

    pub async fn concurrent_transactions_on_one_item_commit_once(table: Arc<dyn Table>) {
        const CONTENDERS: usize = 16;
        let tasks: Vec<_> = (0..CONTENDERS)
            .map(|contender| {
                let table = Arc::clone(&table);
                tokio::spawn(async move {
                    // Each claims the same invoice number and records its own audit entry.
                    let transaction = vec![
                        TransactItem::Put {
                            item: item("numbering", "invoice#1001", &[("by", n(contender as i64))]),
                            condition: Condition::NotExists,
                        },
                        TransactItem::Put {
                            item: item("numbering", &format!("audit#{contender:02}"), &[]),
                            condition: Condition::NotExists,
                        },
                    ];
                    // DynamoDB may cancel overlapping transactions with TransactionConflict;
                    // retrying those must still end with one winner.
                    for _ in 0..100 {
                        match table.transact_write(transaction.clone()).await {
                            Err(StoreError::TransactionCanceled { reasons })
                                if reasons.contains(&CancellationReason::TransactionConflict) =>
                            {
                                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                            }
                            Err(StoreError::TransactionConflict) => {}
                            outcome => return (contender, outcome),
                        }
                    }
                    panic!("contender {contender} kept conflicting");
                })
            })
            .collect();
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (contender, Ok(())) => winners.push(contender),
                (_, Err(StoreError::TransactionCanceled { reasons })) => {
                    assert_eq!(
                        reasons,
                        vec![
                            CancellationReason::ConditionFailed,
                            CancellationReason::None
                        ]
                    );
                }
                (_, Err(other)) => panic!("unexpected outcome {other}"),
            }
        }
        assert_eq!(winners.len(), 1, "winners: {winners:?}");
        let audits = sort_keys(
            &*table,
            Query::partition(Index::Primary, "numbering", 100)
                .sort(SortKeyCondition::BeginsWith("audit#".into())),
        )
        .await;
        assert_eq!(
            audits,
            vec![format!("audit#{:02}", winners[0])],
            "losers wrote nothing"
        );
    }

    pub async fn query_limits_and_partitions_are_checked(table: Arc<dyn Table>) {
        for limit in [0, billing_store::limits::PAGE_SIZE_MAX + 1] {
            let outcome = table
                .query(Query::partition(Index::Primary, "p", limit))
                .await;
            assert!(
                matches!(outcome, Err(StoreError::InvalidRequest(_))),
                "limit {limit}"
            );
        }
        let empty_partition = table.query(Query::partition(Index::Gsi1, "", 10)).await;
        assert!(matches!(
            empty_partition,
            Err(StoreError::InvalidRequest(_))
        ));
        let inverted = table
            .query(
                Query::partition(Index::Primary, "p", 10)
                    .sort(SortKeyCondition::Between("b".into(), "a".into())),
            )
            .await;
        assert!(matches!(inverted, Err(StoreError::InvalidRequest(_))));
        let garbage = table
            .query(Query::partition(Index::Primary, "p", 10).after(Some("not a cursor".into())))
            .await;
        assert!(matches!(garbage, Err(StoreError::InvalidCursor)));
    }
}

billing_store::on_every_backend! {
    |_backend, table| table =>
    an_item_reads_back_as_written_until_deleted,
    concurrent_creates_of_one_key_have_exactly_one_winner,
    typed_conditions_guard_puts_updates_and_deletes,
    updates_set_add_and_remove_and_create_missing_items,
    optimistic_locking_loses_no_update,
    a_failed_condition_cancels_the_whole_transaction,
    a_transaction_holds_up_to_100_actions_on_distinct_items,
    cursors_page_through_a_partition_both_ways,
    sort_key_conditions_select_ranges,
    gsi_queries_follow_index_keys,
    expired_items_are_absent,
    a_350_kb_item_round_trips_and_a_larger_one_is_refused,
    concurrent_transactions_on_one_item_commit_once,
    query_limits_and_partitions_are_checked,
}
