//! The repositories, case by case, on every backend (embedded and DynamoDB Local): uniqueness
//! rules that cannot be broken, optimistic locks, audit + outbox in the same write, the work
//! lists of the scheduled runs, and exact usage sums.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use billing_core::Timestamp;
use billing_core::audit::{AuditAction, EntityType};
use billing_core::invoice::{
    BillingReason, Invoice, InvoiceDraft, InvoiceIds, InvoiceKind, InvoiceLine, InvoiceStatus,
    LineKind, invoice_number,
};
use billing_core::payment::{Payment, PaymentStatus};
use billing_core::plan::{Plan, PlanDraft, TierDraft, UsageChargeDraft};
use billing_core::subscription::Subscription;
use billing_core::usage::UsageEvent;
use billing_core::user::User;
use billing_core::{Currency, Period};
use billing_ledger::*;

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

fn user(id: &str, email: &str) -> User {
    User {
        id: id.into(),
        email: email.into(),
        name: None,
        payment_method: Some("pm_card_ok".into()),
        credit_balance_cents: 0,
        created_at: at("2027-01-01T00:00:00Z"),
    }
}

fn plan(code: &str, metrics: &[&str]) -> Plan {
    PlanDraft {
        code: code.into(),
        name: code.into(),
        amount_cents: 1000,
        interval: "month".into(),
        usage_charges: metrics
            .iter()
            .map(|m| UsageChargeDraft {
                metric: (*m).into(),
                mode: "graduated".into(),
                tiers: vec![TierDraft {
                    up_to: None,
                    unit_amount_decimal: "1".into(),
                    flat_amount_cents: None,
                }],
            })
            .collect(),
        ..PlanDraft::default()
    }
    .validate(at("2027-01-01T00:00:00Z"))
    .unwrap()
}

fn subscribe(id: &str, user_id: &str, plan: &Plan, now: &str) -> Subscription {
    Subscription::create(id.into(), user_id.into(), plan, None, at(now))
        .unwrap()
        .subscription
}

fn invoice(subscription_id: &str, user_id: &str, period_start: &str, number: u64) -> Invoice {
    let period = Period::new(
        at(period_start),
        at(period_start) + chrono::Duration::days(30),
    );
    let draft = InvoiceDraft {
        kind: InvoiceKind::Subscription,
        billing_reason: BillingReason::SubscriptionCycle,
        user_id: user_id.into(),
        subscription_id: Some(subscription_id.into()),
        currency: Currency::USD,
        period,
        lines: vec![InvoiceLine::plain(
            LineKind::BaseFee,
            "fee".into(),
            1000,
            period,
        )],
        related_invoice_id: None,
    };
    let id = keys::invoice_id_for(&draft.key().unwrap());
    draft
        .finalize(
            InvoiceIds {
                id,
                number: invoice_number(number),
            },
            0,
            period.end,
        )
        .unwrap()
        .invoice
}

fn entry(id: &str, action: AuditAction, entity_id: &str, when: &str) -> AuditEntry {
    AuditEntry {
        id: id.into(),
        at: at(when),
        actor: "test".into(),
        action,
        entity_type: action.entity_type(),
        entity_id: entity_id.into(),
        data: serde_json::json!({}),
    }
}

async fn commit(ledger: &Ledger, build: impl FnOnce(&mut Change)) -> Result<()> {
    let mut change = Change::new();
    build(&mut change);
    ledger.commit(change).await
}

/// Every id in the time index of the runs' work lists, over all shards.
async fn all_due(ledger: &Ledger, payments: bool, now: Timestamp) -> Vec<String> {
    let mut due = Vec::new();
    for shard in 0..keys::DUE_SHARDS {
        let mut cursor = None;
        loop {
            let (page, next) = if payments {
                ledger.due_payments(shard, now, 2, cursor).await.unwrap()
            } else {
                ledger.due_renewals(shard, now, 2, cursor).await.unwrap()
            };
            due.extend(page);
            match next {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    due.sort();
    due
}

mod cases {
    pub use super::corruption::stored_values_that_do_not_decode_are_corruption_not_zero;
    use super::*;

    pub async fn emails_are_unique_case_insensitively(ledger: Ledger) {
        commit(&ledger, |c| {
            c.create_user(&user("usr_1", "Ada@Example.com"), "ada@example.com")
                .unwrap()
        })
        .await
        .unwrap();
        let second = commit(&ledger, |c| {
            c.create_user(&user("usr_2", "ada@EXAMPLE.com"), "ada@example.com")
                .unwrap()
        })
        .await;
        assert_eq!(second.unwrap_err().conflicts(), [Conflict::EmailTaken]);
        assert!(
            ledger.user("usr_2").await.unwrap().is_none(),
            "nothing half-written"
        );
        assert_eq!(
            ledger
                .user_id_by_email("ada@example.com")
                .await
                .unwrap()
                .as_deref(),
            Some("usr_1")
        );
    }

    pub async fn stale_versions_are_refused(ledger: Ledger) {
        commit(&ledger, |c| {
            c.create_user(&user("usr_1", "a@b.co"), "a@b.co").unwrap()
        })
        .await
        .unwrap();
        let read = ledger.user("usr_1").await.unwrap().unwrap();
        assert_eq!(read.version, 1);
        let mut renamed = read.value.clone();
        renamed.name = Some("Ada".into());
        commit(&ledger, |c| c.update_user(&renamed, read.version).unwrap())
            .await
            .unwrap();
        let mut other = read.value.clone();
        other.credit_balance_cents = 500;
        let stale = commit(&ledger, |c| c.update_user(&other, read.version).unwrap()).await;
        assert!(matches!(
            stale.unwrap_err(),
            LedgerError::Conflict(Conflict::Stale { entity: "user", .. })
        ));
        let now = ledger.user("usr_1").await.unwrap().unwrap();
        assert_eq!(
            (
                now.version,
                now.value.name.as_deref(),
                now.value.credit_balance_cents
            ),
            (2, Some("Ada"), 0)
        );
    }

    pub async fn plan_codes_are_unique_and_lists_page_newest_first(ledger: Ledger) {
        for (i, code) in ["a", "b", "c"].iter().enumerate() {
            let mut p = plan(code, &[]);
            p.created_at =
                at("2027-01-01T00:00:00Z") + chrono::Duration::seconds(i64::try_from(i).unwrap());
            commit(&ledger, |c| c.create_plan(&p).unwrap())
                .await
                .unwrap();
        }
        let again = commit(&ledger, |c| c.create_plan(&plan("b", &[])).unwrap()).await;
        assert_eq!(again.unwrap_err().conflicts(), [Conflict::PlanCodeTaken]);
        let first = ledger.plans(&PageRequest::first(2)).await.unwrap();
        assert_eq!(
            first
                .data
                .iter()
                .map(|p| p.code.as_str())
                .collect::<Vec<_>>(),
            ["c", "b"]
        );
        let second = ledger
            .plans(&PageRequest {
                limit: 2,
                cursor: first.next_cursor,
            })
            .await
            .unwrap();
        assert_eq!(
            second
                .data
                .iter()
                .map(|p| p.code.as_str())
                .collect::<Vec<_>>(),
            ["a"]
        );
    }

    pub async fn one_live_subscription_per_plan_and_one_pricer_per_metric(ledger: Ledger) {
        let metered = plan("metered", &["api_calls"]);
        let other = plan("other", &["api_calls", "storage"]);
        let first = subscribe("sub_1", "usr_1", &metered, "2027-01-01T00:00:00Z");
        commit(&ledger, |c| {
            c.create_subscription(&first, &metered).unwrap()
        })
        .await
        .unwrap();
        let same_plan = subscribe("sub_2", "usr_1", &metered, "2027-01-02T00:00:00Z");
        let refused = commit(&ledger, |c| {
            c.create_subscription(&same_plan, &metered).unwrap()
        })
        .await
        .unwrap_err();
        assert!(refused.has_conflict(|c| matches!(c, Conflict::PlanAlreadySubscribed { .. })));
        let overlapping = subscribe("sub_3", "usr_1", &other, "2027-01-02T00:00:00Z");
        let refused = commit(&ledger, |c| {
            c.create_subscription(&overlapping, &other).unwrap()
        })
        .await
        .unwrap_err();
        assert!(refused.has_conflict(|c| *c
            == Conflict::MetricClaimed {
                metric: "api_calls".into()
            }));
        assert!(ledger.subscription("sub_3").await.unwrap().is_none());
        // Another user is free to subscribe.
        let elsewhere = subscribe("sub_4", "usr_2", &metered, "2027-01-02T00:00:00Z");
        commit(&ledger, |c| {
            c.create_subscription(&elsewhere, &metered).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            ledger
                .subscription_pricing("usr_1", "api_calls")
                .await
                .unwrap()
                .as_deref(),
            Some("sub_1")
        );

        // Canceling releases the claims: the user may subscribe again.
        let read = ledger.subscription("sub_1").await.unwrap().unwrap();
        let canceled = read
            .value
            .cancel_for_nonpayment(at("2027-01-05T00:00:00Z"))
            .subscription;
        commit(&ledger, |c| {
            c.update_subscription(
                &read,
                &canceled,
                &metered,
                &metered,
                at("2027-01-15T00:00:00Z"),
            )
            .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            ledger
                .subscription_pricing("usr_1", "api_calls")
                .await
                .unwrap(),
            None
        );
        commit(&ledger, |c| {
            c.create_subscription(&overlapping, &other).unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            ledger
                .subscription_pricing("usr_1", "storage")
                .await
                .unwrap()
                .as_deref(),
            Some("sub_3")
        );
        let of_user = ledger
            .subscriptions(Some("usr_1"), None, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(
            of_user
                .data
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>(),
            ["sub_3", "sub_1"]
        );
        let canceled_only = ledger
            .subscriptions(
                None,
                Some(billing_core::subscription::SubscriptionStatus::Canceled),
                &PageRequest::first(10),
            )
            .await
            .unwrap();
        assert_eq!(
            canceled_only
                .data
                .iter()
                .map(|s| s.id.as_str())
                .collect::<Vec<_>>(),
            ["sub_1"]
        );
    }

    pub async fn a_plan_change_moves_the_metric_claims(ledger: Ledger) {
        let api = plan("api", &["api_calls"]);
        let storage = plan("storage", &["storage"]);
        let sub = subscribe("sub_1", "usr_1", &api, "2027-01-01T00:00:00Z");
        commit(&ledger, |c| c.create_subscription(&sub, &api).unwrap())
            .await
            .unwrap();
        let read = ledger.subscription("sub_1").await.unwrap().unwrap();
        let changed = read
            .value
            .change_plan_now(
                &api,
                &storage,
                &billing_core::subscription::NoUsage,
                at("2027-01-10T00:00:00Z"),
            )
            .unwrap()
            .subscription;
        commit(&ledger, |c| {
            c.update_subscription(&read, &changed, &api, &storage, at("2027-01-15T00:00:00Z"))
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            ledger
                .subscription_pricing("usr_1", "api_calls")
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            ledger
                .subscription_pricing("usr_1", "storage")
                .await
                .unwrap()
                .as_deref(),
            Some("sub_1")
        );
        // The old plan is free for this user again.
        let back = subscribe("sub_2", "usr_1", &api, "2027-01-11T00:00:00Z");
        commit(&ledger, |c| c.create_subscription(&back, &api).unwrap())
            .await
            .unwrap();
    }

    pub async fn due_renewals_come_from_the_time_index(ledger: Ledger) {
        let monthly = plan("monthly", &[]);
        for day in 1..=20 {
            let sub = subscribe(
                &format!("sub_{day}"),
                &format!("usr_{day}"),
                &monthly,
                &format!("2027-01-{day:02}T00:00:00Z"),
            );
            commit(&ledger, |c| c.create_subscription(&sub, &monthly).unwrap())
                .await
                .unwrap();
        }
        // Cancel one that would be due: it leaves the index.
        let read = ledger.subscription("sub_3").await.unwrap().unwrap();
        let canceled = read
            .value
            .cancel_for_nonpayment(at("2027-01-20T00:00:00Z"))
            .subscription;
        commit(&ledger, |c| {
            c.update_subscription(
                &read,
                &canceled,
                &monthly,
                &monthly,
                at("2027-01-15T00:00:00Z"),
            )
            .unwrap()
        })
        .await
        .unwrap();
        // Periods of subscriptions 1–5 have ended by Feb 5.
        assert_eq!(
            all_due(&ledger, false, at("2027-02-05T00:00:00Z")).await,
            ["sub_1", "sub_2", "sub_4", "sub_5"]
        );
        // Renewing one moves it forward in the index.
        let read = ledger.subscription("sub_1").await.unwrap().unwrap();
        let renewed = read
            .value
            .renew(
                &vec![monthly.clone()],
                &billing_core::subscription::NoUsage,
                at("2027-02-05T00:00:00Z"),
            )
            .unwrap()
            .subscription;
        commit(&ledger, |c| {
            c.update_subscription(
                &read,
                &renewed,
                &monthly,
                &monthly,
                at("2027-01-15T00:00:00Z"),
            )
            .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(
            all_due(&ledger, false, at("2027-02-05T00:00:00Z")).await,
            ["sub_2", "sub_4", "sub_5"]
        );
    }

    pub async fn an_invoice_is_created_once_however_many_try(ledger: Ledger) {
        let ledger = Arc::new(ledger);
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let ledger = Arc::clone(&ledger);
            tasks.push(tokio::spawn(async move {
                let invoice = invoice("sub_1", "usr_1", "2027-01-01T00:00:00Z", 1);
                commit(&ledger, |c| {
                    c.create_invoice(&invoice).unwrap();
                    c.audit(&entry(
                        &format!("aud_{}", invoice.id),
                        AuditAction::InvoiceFinalized,
                        &invoice.id,
                        "2027-01-31T00:00:00Z",
                    ))
                    .unwrap();
                })
                .await
            }));
        }
        let mut won = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => won += 1,
                // A loser sees the invoice exists, or (DynamoDB) that a concurrent transaction
                // held the item; either way nothing of its write remains.
                Err(error) => assert!(
                    error.has_conflict(|c| matches!(c, Conflict::InvoiceExists { .. }))
                        || matches!(
                            error,
                            LedgerError::Store(
                                billing_store::StoreError::TransactionConflict
                                    | billing_store::StoreError::TransactionCanceled { .. }
                            )
                        ),
                    "unexpected {error:?}"
                ),
            }
        }
        assert_eq!(won, 1);
        let all = ledger
            .invoices(&InvoiceFilter::default(), &PageRequest::first(100))
            .await
            .unwrap();
        assert_eq!(all.data.len(), 1);
    }

    pub async fn invoice_numbers_are_gap_free_under_concurrency(ledger: Ledger) {
        let mut tasks = Vec::new();
        for i in 0..12_u32 {
            // One ledger per writer, as in separate processes: their turns do not queue them,
            // so only the counter's condition keeps the numbers gap-free.
            let ledger = Ledger::new(Arc::clone(ledger.table()));
            tasks.push(tokio::spawn(async move {
                // Each writer retries until it takes the next number; the losers re-read.
                for _ in 0..500 {
                    let turn = ledger.numbering_turn().await.unwrap();
                    let last = turn.last_number;
                    let invoice = invoice(
                        &format!("sub_{i}"),
                        "usr_1",
                        "2027-01-01T00:00:00Z",
                        last + 1,
                    );
                    let outcome = commit(&ledger, |c| {
                        c.take_invoice_numbers(turn, 1);
                        c.create_invoice(&invoice).unwrap();
                    })
                    .await;
                    match outcome {
                        Ok(()) => return last + 1,
                        Err(_) => {
                            tokio::time::sleep(std::time::Duration::from_millis(
                                u64::from(i % 4) + 1,
                            ))
                            .await
                        }
                    }
                }
                panic!("writer {i} never got a number");
            }));
        }
        let mut numbers = Vec::new();
        for task in tasks {
            numbers.push(task.await.unwrap());
        }
        numbers.sort_unstable();
        assert_eq!(numbers, (1..=12).collect::<Vec<u64>>());
        assert_eq!(ledger.last_invoice_number().await.unwrap(), 12);
        let listed = ledger
            .invoices(&InvoiceFilter::default(), &PageRequest::first(100))
            .await
            .unwrap();
        let mut stored: Vec<String> = listed.data.iter().map(|i| i.number.clone()).collect();
        stored.sort();
        assert_eq!(stored, (1..=12).map(invoice_number).collect::<Vec<_>>());
    }

    pub async fn invoices_are_found_by_user_subscription_status_and_due_time(ledger: Ledger) {
        let a = invoice("sub_a", "usr_1", "2027-01-01T00:00:00Z", 1);
        let b = invoice("sub_b", "usr_1", "2027-02-01T00:00:00Z", 2);
        let c = invoice("sub_c", "usr_2", "2027-03-01T00:00:00Z", 3);
        for i in [&a, &b, &c] {
            commit(&ledger, |ch| ch.create_invoice(i).unwrap())
                .await
                .unwrap();
        }
        // Pay b: it leaves the open status and the payment work list.
        let read = ledger.invoice(&b.id).await.unwrap().unwrap();
        let mut paid = read.value.clone();
        paid.mark_paid(at("2027-03-05T00:00:00Z")).unwrap();
        commit(&ledger, |ch| ch.update_invoice(&read, &paid).unwrap())
            .await
            .unwrap();

        let ids =
            |listing: Listing<Invoice>| listing.data.into_iter().map(|i| i.id).collect::<Vec<_>>();
        let page = PageRequest::first(10);
        let by_user = InvoiceFilter {
            user_id: Some("usr_1".into()),
            ..InvoiceFilter::default()
        };
        assert_eq!(
            ids(ledger.invoices(&by_user, &page).await.unwrap()),
            [b.id.clone(), a.id.clone()]
        );
        let by_sub = InvoiceFilter {
            subscription_id: Some("sub_c".into()),
            ..InvoiceFilter::default()
        };
        assert_eq!(
            ids(ledger.invoices(&by_sub, &page).await.unwrap()),
            [c.id.as_str()]
        );
        let open = InvoiceFilter {
            status: Some(InvoiceStatus::Open),
            ..InvoiceFilter::default()
        };
        assert_eq!(
            ids(ledger.invoices(&open, &page).await.unwrap()),
            [c.id.clone(), a.id.clone()]
        );
        let open_of_user = InvoiceFilter {
            user_id: Some("usr_1".into()),
            status: Some(InvoiceStatus::Open),
            ..InvoiceFilter::default()
        };
        assert_eq!(
            ids(ledger.invoices(&open_of_user, &page).await.unwrap()),
            [a.id.as_str()]
        );
        // a's first attempt is due (finalized Jan 31); c's is due Mar 31; b is paid.
        assert_eq!(
            all_due(&ledger, true, at("2027-03-30T00:00:00Z")).await,
            [a.id.as_str()]
        );
    }

    pub async fn a_payment_is_recorded_once_per_gateway_transaction(ledger: Ledger) {
        let payment = |id: &str, txn: &str| Payment {
            id: id.into(),
            invoice_id: "inv_1".into(),
            user_id: "usr_1".into(),
            amount_cents: 1000,
            status: PaymentStatus::Succeeded,
            gateway: "simulated".into(),
            gateway_txn_id: Some(txn.into()),
            failure_code: None,
            attempt: 1,
            created_at: at("2027-01-01T00:00:00Z"),
        };
        commit(&ledger, |c| {
            c.create_payment(&payment("pay_1", "txn_1")).unwrap()
        })
        .await
        .unwrap();
        let replay = commit(&ledger, |c| {
            c.create_payment(&payment("pay_2", "txn_1")).unwrap()
        })
        .await;
        assert!(
            replay
                .unwrap_err()
                .has_conflict(|c| matches!(c, Conflict::PaymentRecorded { .. }))
        );
        commit(&ledger, |c| {
            c.create_payment(&payment("pay_3", "txn_2")).unwrap()
        })
        .await
        .unwrap();
        let of_invoice = ledger
            .payments(Some("inv_1"), None, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(of_invoice.data.len(), 2);
        let of_user = ledger
            .payments(None, Some("usr_1"), &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(of_user.data.len(), 2);
    }

    pub async fn the_audit_entry_and_outbox_event_are_written_with_the_change_or_not_at_all(
        ledger: Ledger,
    ) {
        commit(&ledger, |c| {
            c.create_user(&user("usr_1", "a@b.co"), "a@b.co").unwrap();
            c.audit(&entry(
                "aud_1",
                AuditAction::UserCreated,
                "usr_1",
                "2027-01-01T00:00:00Z",
            ))
            .unwrap();
        })
        .await
        .unwrap();
        // The same email again: the user, its audit entry and its event all stay unwritten.
        let refused = commit(&ledger, |c| {
            c.create_user(&user("usr_2", "A@b.co"), "a@b.co").unwrap();
            c.audit(&entry(
                "aud_2",
                AuditAction::UserCreated,
                "usr_2",
                "2027-01-01T00:00:01Z",
            ))
            .unwrap();
        })
        .await;
        assert!(refused.is_err());
        let of_first = ledger
            .audit(
                &AuditFilter {
                    entity_id: Some("usr_1".into()),
                    action: None,
                },
                &PageRequest::first(10),
            )
            .await
            .unwrap();
        assert_eq!(of_first.data.len(), 1);
        let of_second = ledger
            .audit(
                &AuditFilter {
                    entity_id: Some("usr_2".into()),
                    action: None,
                },
                &PageRequest::first(10),
            )
            .await
            .unwrap();
        assert!(of_second.data.is_empty());
        let by_action = ledger
            .audit(
                &AuditFilter {
                    entity_id: None,
                    action: Some(AuditAction::UserCreated),
                },
                &PageRequest::first(10),
            )
            .await
            .unwrap();
        assert_eq!(
            by_action
                .data
                .iter()
                .map(|e| e.id.as_str())
                .collect::<Vec<_>>(),
            ["aud_1"]
        );
        assert_eq!(by_action.data[0].entity_type, EntityType::User);

        let mut events = Vec::new();
        for shard in 0..keys::DUE_SHARDS {
            events.extend(ledger.outbox(shard, 10).await.unwrap());
        }
        assert_eq!(
            events.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["aud_1"]
        );
        ledger.remove_from_outbox(&events[0]).await.unwrap();
        let mut left = 0;
        for shard in 0..keys::DUE_SHARDS {
            left += ledger.outbox(shard, 10).await.unwrap().len();
        }
        assert_eq!(left, 0);
    }

    pub async fn idempotency_keys_replay_refuse_reuse_and_report_in_flight(ledger: Ledger) {
        let now = billing_store::now_epoch_seconds();
        assert_eq!(
            ledger
                .begin_request("tok_1", "k1", "hash-a", now, 60)
                .await
                .unwrap(),
            IdempotencyStart::Started
        );
        assert_eq!(
            ledger
                .begin_request("tok_1", "k1", "hash-a", now + 1, 60)
                .await
                .unwrap(),
            IdempotencyStart::InProgress
        );
        assert_eq!(
            ledger
                .begin_request("tok_1", "k1", "hash-b", now + 1, 60)
                .await
                .unwrap(),
            IdempotencyStart::KeyReused
        );
        // Another token's key of the same name is its own.
        assert_eq!(
            ledger
                .begin_request("tok_2", "k1", "hash-b", now + 1, 60)
                .await
                .unwrap(),
            IdempotencyStart::Started
        );
        let response = StoredResponse {
            status: 201,
            body: "{\"id\":\"usr_1\"}".into(),
        };
        ledger
            .finish_request("tok_1", "k1", "hash-a", &response, now + 2)
            .await
            .unwrap();
        assert_eq!(
            ledger
                .begin_request("tok_1", "k1", "hash-a", now + 3, 60)
                .await
                .unwrap(),
            IdempotencyStart::Replay(response)
        );
        // A request whose process died holds its key only until the lock expires.
        assert_eq!(
            ledger
                .begin_request("tok_1", "k2", "hash-c", now, 60)
                .await
                .unwrap(),
            IdempotencyStart::Started
        );
        assert_eq!(
            ledger
                .begin_request("tok_1", "k2", "hash-c", now + 61, 60)
                .await
                .unwrap(),
            IdempotencyStart::Started
        );
        ledger.abandon_request("tok_1", "k2").await.unwrap();
        assert_eq!(
            ledger
                .begin_request("tok_1", "k2", "hash-d", now + 62, 60)
                .await
                .unwrap(),
            IdempotencyStart::Started
        );
    }

    pub async fn tokens_are_found_by_secret_until_revoked(ledger: Ledger) {
        let token = Token {
            id: "tok_1".into(),
            name: "ingest".into(),
            scopes: vec!["usage:write".into()],
            secret_sha256: hash_secret("s3cret"),
            created_at: at("2027-01-01T00:00:00Z"),
            revoked_at: None,
        };
        commit(&ledger, |c| c.create_token(&token).unwrap())
            .await
            .unwrap();
        assert_eq!(
            ledger
                .token_by_secret("s3cret")
                .await
                .unwrap()
                .map(|t| t.id),
            Some("tok_1".into())
        );
        assert!(ledger.token_by_secret("other").await.unwrap().is_none());
        let read = ledger.token("tok_1").await.unwrap().unwrap();
        let mut revoked = read.value.clone();
        revoked.revoked_at = Some(at("2027-01-02T00:00:00Z"));
        commit(&ledger, |c| c.revoke_token(&revoked, read.version).unwrap())
            .await
            .unwrap();
        assert!(ledger.token_by_secret("s3cret").await.unwrap().is_none());
        assert_eq!(
            ledger.tokens(&PageRequest::first(10)).await.unwrap().data[0].revoked_at,
            revoked.revoked_at
        );
    }

    pub async fn webhook_events_and_the_test_clock(ledger: Ledger) {
        commit(&ledger, |c| {
            c.mark_webhook_processed("evt_1", at("2027-01-01T00:00:00Z"))
                .unwrap()
        })
        .await
        .unwrap();
        let again = commit(&ledger, |c| {
            c.mark_webhook_processed("evt_1", at("2027-01-01T00:00:01Z"))
                .unwrap()
        })
        .await;
        assert_eq!(
            again.unwrap_err().conflicts(),
            [Conflict::WebhookEventProcessed {
                event_id: "evt_1".into()
            }]
        );
        assert!(ledger.webhook_processed("evt_1").await.unwrap());

        assert_eq!(ledger.test_clock().await.unwrap(), None);
        ledger
            .set_test_clock(None, at("2027-01-01T00:00:00Z"))
            .await
            .unwrap();
        ledger
            .set_test_clock(Some(at("2027-01-01T00:00:00Z")), at("2027-02-01T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(
            ledger.test_clock().await.unwrap(),
            Some(at("2027-02-01T00:00:00Z"))
        );
        let back = ledger
            .set_test_clock(Some(at("2027-02-01T00:00:00Z")), at("2027-01-15T00:00:00Z"))
            .await;
        assert_eq!(
            back.unwrap_err().conflicts(),
            [Conflict::ClockMovedBackwards]
        );
        // A writer that read an old value loses instead of moving the clock back.
        let stale = ledger
            .set_test_clock(Some(at("2027-01-01T00:00:00Z")), at("2027-01-20T00:00:00Z"))
            .await;
        assert!(stale.is_err());
        assert_eq!(
            ledger.test_clock().await.unwrap(),
            Some(at("2027-02-01T00:00:00Z"))
        );
    }

    pub async fn users_are_found_by_name_prefix_in_name_order(ledger: Ledger) {
        let named = |id: &str, name: Option<&str>| User {
            name: name.map(str::to_owned),
            ..user(id, &format!("{id}@example.com"))
        };
        let people = [
            named("usr_1", Some("Ada Lovelace")),
            named("usr_2", Some("ada byron")),
            named("usr_3", Some("Adam Smith")),
            named("usr_4", Some("Bob")),
            named("usr_5", None),
            named("usr_6", Some("Ádám")),
        ];
        for person in &people {
            commit(&ledger, |c| {
                c.create_user(person, &person.email.to_lowercase()).unwrap()
            })
            .await
            .unwrap();
        }
        // A rename moves the index entry: Bob is found as Adele, no longer as Bob.
        let adele = named("usr_4", Some("Adele"));
        commit(&ledger, |c| c.update_user(&adele, 1).unwrap())
            .await
            .unwrap();
        let names = |listing: &Listing<User>| -> Vec<String> {
            listing
                .data
                .iter()
                .map(|u| u.name.clone().unwrap())
                .collect()
        };
        let found = ledger
            .users_by_name_prefix("AD", &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(
            names(&found),
            ["ada byron", "Ada Lovelace", "Adam Smith", "Adele"]
        );
        assert_eq!(found.next_cursor, None);
        let first = ledger
            .users_by_name_prefix("ada", &PageRequest::first(2))
            .await
            .unwrap();
        assert_eq!(names(&first), ["ada byron", "Ada Lovelace"]);
        let rest = ledger
            .users_by_name_prefix(
                "ada",
                &PageRequest {
                    limit: 2,
                    cursor: first.next_cursor.clone(),
                },
            )
            .await
            .unwrap();
        assert_eq!(names(&rest), ["Adam Smith"]);
        let space = ledger
            .users_by_name_prefix("ada ", &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(names(&space), ["ada byron", "Ada Lovelace"]);
        let accented = ledger
            .users_by_name_prefix("ádá", &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(names(&accented), ["Ádám"]);
        for gone in ["bob", "zed"] {
            let none = ledger
                .users_by_name_prefix(gone, &PageRequest::first(10))
                .await
                .unwrap();
            assert!(none.data.is_empty(), "{gone}");
        }
    }

    pub async fn dashboard_counters_move_with_each_change_or_not_at_all(ledger: Ledger) {
        let dashboard = || {
            let ledger = ledger.clone();
            async move {
                ledger
                    .dashboard("usd", "2027-01-01", "2027-02-01")
                    .await
                    .unwrap()
            }
        };
        let value = |map: &std::collections::BTreeMap<String, i64>, name: &str| {
            map.get(name).copied().unwrap_or(0)
        };
        let monthly = plan("monthly", &[]);
        let sub = subscribe("sub_1", "usr_1", &monthly, "2027-01-01T00:00:00Z");
        commit(&ledger, |c| c.create_subscription(&sub, &monthly).unwrap())
            .await
            .unwrap();
        let counted = dashboard().await;
        assert_eq!(
            (
                value(&counted.subscriptions, "active"),
                value(&counted.subscriptions, "mrr_cents"),
                value(&counted.months["2027-01"], "mrr_change_cents")
            ),
            (1, 1000, 1000)
        );

        let open = invoice("sub_1", "usr_1", "2027-01-01T00:00:00Z", 1);
        commit(&ledger, |c| c.create_invoice(&open).unwrap())
            .await
            .unwrap();
        let before = dashboard().await;
        assert_eq!(
            (
                value(&before.invoices, "open_count"),
                value(&before.invoices, "open_amount_due_cents")
            ),
            (1, 1000)
        );
        // Refused transactions add nothing: the invoice exists already; a stale version.
        let twice = commit(&ledger, |c| c.create_invoice(&open).unwrap()).await;
        assert!(matches!(
            twice.unwrap_err(),
            LedgerError::Conflict(Conflict::InvoiceExists { .. })
        ));
        let read = ledger.invoice(&open.id).await.unwrap().unwrap();
        let mut paid = read.value.clone();
        paid.mark_paid(at("2027-01-20T00:00:00Z")).unwrap();
        let stale = Versioned {
            value: read.value.clone(),
            version: read.version + 1,
        };
        assert!(
            commit(&ledger, |c| c.update_invoice(&stale, &paid).unwrap())
                .await
                .is_err()
        );
        assert_eq!(dashboard().await, before);

        // Paying moves the invoice from open to paid and books it in the month it was paid.
        commit(&ledger, |c| c.update_invoice(&read, &paid).unwrap())
            .await
            .unwrap();
        let after = dashboard().await;
        assert_eq!(
            (
                value(&after.invoices, "open_count"),
                value(&after.invoices, "paid_count"),
                value(&after.invoices, "paid_amount_due_cents"),
                value(&after.months["2027-01"], "paid_cents"),
            ),
            (0, 1, 1000, 1000)
        );

        // Two usage sums of one user, metric and day in one change: one counter update (a
        // transaction may not name an item twice).
        let mut change = Change::new();
        change.add_usage("usr_1", "api_calls", at("2027-01-10T01:00:00Z"), 5);
        change.add_usage("usr_1", "api_calls", at("2027-01-10T02:00:00Z"), 6);
        assert_eq!(change.len(), 3, "two sums and one counter");
        ledger.commit(change).await.unwrap();
        assert_eq!(
            dashboard().await.usage,
            [(("2027-01-10".to_owned(), "api_calls".to_owned()), 11)].into()
        );
    }

    pub async fn usage_counts_once_and_sums_exactly_until_sealed(ledger: Ledger) {
        let event = |id: &str, quantity: u64, when: &str| UsageEvent {
            id: id.into(),
            user_id: "usr_1".into(),
            metric: "api_calls".into(),
            quantity,
            timestamp: at(when),
        };
        /// What an aggregator does with one batch: claim each event, then add the counted ones
        /// with the batch marker (and the seal check) in one change.
        async fn aggregate(
            ledger: &Ledger,
            batch_id: &str,
            events: &[UsageEvent],
            crash_before_adding: bool,
        ) -> Result<usize> {
            if ledger.usage_batch_applied(batch_id).await? {
                return Ok(0);
            }
            let mut counted = Vec::new();
            for event in events {
                if ledger.claim_usage_event(event, batch_id).await? != UsageClaim::Duplicate {
                    counted.push(event);
                }
            }
            if crash_before_adding {
                return Ok(0);
            }
            commit(ledger, |c| {
                for e in &counted {
                    c.add_usage(&e.user_id, &e.metric, e.timestamp, e.quantity);
                }
                c.mark_usage_batch_applied(batch_id, at("2027-02-01T00:00:00Z"))
                    .unwrap();
                c.require_period_open("sub_1", at("2027-01-01T00:00:00Z"));
            })
            .await?;
            Ok(counted.len())
        }
        let batch = [
            event("e1", 5, "2027-01-01T00:00:00Z"),
            event("e2", 7, "2027-01-15T12:00:00Z"),
            event("e3", 11, "2027-01-31T23:59:59Z"),
            event("e4", 13, "2027-02-01T00:00:00Z"),
        ];
        // The first delivery dies after claiming; the redelivery finishes it, once.
        assert_eq!(aggregate(&ledger, "b1", &batch, true).await.unwrap(), 0);
        assert_eq!(aggregate(&ledger, "b1", &batch, false).await.unwrap(), 4);
        assert_eq!(aggregate(&ledger, "b1", &batch, false).await.unwrap(), 0);
        // Another batch resending e2 (even with other fields) and e1 counts only its new event.
        let resent = [
            event("e2", 1_000, "2027-01-20T00:00:00Z"),
            batch[0].clone(),
            event("e6", 2, "2027-01-10T00:00:00Z"),
        ];
        assert_eq!(aggregate(&ledger, "b2", &resent, false).await.unwrap(), 1);

        let sum = |from: &str, to: &str| {
            let ledger = ledger.clone();
            let (from, to) = (at(from), at(to));
            async move {
                ledger
                    .usage_sum("usr_1", "api_calls", from, to)
                    .await
                    .unwrap()
            }
        };
        assert_eq!(
            sum("2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z").await,
            25,
            "[S, E) excludes E"
        );
        assert_eq!(
            sum("2027-01-01T00:00:01Z", "2027-02-01T00:00:01Z").await,
            33
        );
        assert_eq!(sum("2027-01-15T12:00:00Z", "2027-01-15T12:00:01Z").await, 7);
        assert_eq!(sum("2027-01-15T12:00:01Z", "2027-01-15T12:00:01Z").await, 0);
        // The seconds behind the sums, oldest first, in one query of `[from, to)`.
        assert_eq!(
            ledger
                .usage_seconds(
                    "usr_1",
                    "api_calls",
                    at("2027-01-01T00:00:01Z"),
                    at("2027-02-01T00:00:00Z")
                )
                .await
                .unwrap(),
            [
                (at("2027-01-10T00:00:00Z"), 2),
                (at("2027-01-15T12:00:00Z"), 7),
                (at("2027-01-31T23:59:59Z"), 11),
            ]
        );
        assert_eq!(
            ledger
                .usage_sum(
                    "usr_1",
                    "other",
                    at("2027-01-01T00:00:00Z"),
                    at("2028-01-01T00:00:00Z")
                )
                .await
                .unwrap(),
            0
        );

        // Closing the period: a close that read the usage version before an aggregation added
        // usage cannot commit; one that read it after seals the period, once.
        let seal = Seal {
            period_start: at("2027-01-01T00:00:00Z"),
            period_end: at("2027-02-01T00:00:00Z"),
            plan_code: "metered".into(),
            billed: true,
        };
        let version = ledger
            .period_usage_version("sub_1", seal.period_start)
            .await
            .unwrap();
        assert_eq!(version, 2, "batches b1 and b2 added usage on time");
        let stale = commit(&ledger, |c| {
            c.seal_period("sub_1", &seal, version - 1).unwrap()
        })
        .await;
        assert!(matches!(
            stale.unwrap_err(),
            LedgerError::Conflict(Conflict::Stale {
                entity: "period_usage",
                ..
            })
        ));
        commit(&ledger, |c| c.seal_period("sub_1", &seal, version).unwrap())
            .await
            .unwrap();
        assert!(
            commit(&ledger, |c| c.seal_period("sub_1", &seal, version).unwrap())
                .await
                .is_err(),
            "sealed once"
        );
        // Once the period is sealed for billing, its usage can no longer be added on time.
        let late = [event("e5", 3, "2027-01-20T00:00:00Z")];
        let refused = aggregate(&ledger, "b3", &late, false).await;
        assert_eq!(
            refused.unwrap_err().conflicts(),
            [Conflict::UsagePeriodSealed]
        );
        assert_eq!(
            sum("2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z").await,
            25
        );

        // The seal tells which closed period an instant falls in, and under which plan.
        let seal = ledger
            .sealed_period_at("sub_1", at("2027-01-20T00:00:00Z"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (seal.plan_code.as_str(), seal.billed, seal.period_end),
            ("metered", true, at("2027-02-01T00:00:00Z"))
        );
        assert!(
            ledger
                .sealed_period_at("sub_1", at("2027-02-01T00:00:00Z"))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            ledger
                .sealed_period_at("sub_1", at("2026-12-31T23:59:59Z"))
                .await
                .unwrap()
                .is_none()
        );

        // Late usage waits for the next invoice, and is cleared only as billed.
        let late = LateUsage {
            subscription_id: "sub_1".into(),
            period_start: seal.period_start,
            period_end: seal.period_end,
            plan_code: seal.plan_code.clone(),
            metric: "api_calls".into(),
            quantity: 3,
        };
        commit(&ledger, |c| c.add_late_usage(&late, seal.period_end))
            .await
            .unwrap();
        commit(&ledger, |c| c.add_late_usage(&late, seal.period_end))
            .await
            .unwrap();
        let waiting = ledger.late_usage("sub_1").await.unwrap();
        assert_eq!(waiting.len(), 1);
        assert_eq!(waiting[0].quantity, 6);
        assert!(
            commit(&ledger, |c| c.clear_late_usage(&late))
                .await
                .is_err(),
            "3 were billed, 6 wait"
        );
        commit(&ledger, |c| c.clear_late_usage(&waiting[0]))
            .await
            .unwrap();
        assert!(ledger.late_usage("sub_1").await.unwrap().is_empty());
    }

    pub async fn queued_usage_survives_until_dequeued(ledger: Ledger) {
        let event = UsageEvent {
            id: "e1".into(),
            user_id: "usr_1".into(),
            metric: "api_calls".into(),
            quantity: 4,
            timestamp: at("2027-01-10T00:00:00Z"),
        };
        // Arrival order, not id order, is the queue's order.
        ledger
            .enqueue_usage("ub_2", 1_000, std::slice::from_ref(&event))
            .await
            .unwrap();
        ledger.enqueue_usage("ub_1", 2_000, &[]).await.unwrap();
        let queued = ledger.queued_usage(10).await.unwrap();
        assert_eq!(
            queued
                .iter()
                .map(|q| q.batch_id.as_str())
                .collect::<Vec<_>>(),
            ["ub_2", "ub_1"]
        );
        assert_eq!(queued[0].events, [event]);
        for batch in &queued {
            ledger.dequeue_usage(batch).await.unwrap();
        }
        assert!(ledger.queued_usage(10).await.unwrap().is_empty());
    }

    pub async fn a_payment_lease_has_one_holder_until_it_expires(ledger: Ledger) {
        let now = billing_store::now_epoch_seconds();
        assert!(
            ledger
                .acquire_payment_lease("inv_1", "runner-a", now, 30)
                .await
                .unwrap()
        );
        assert!(
            !ledger
                .acquire_payment_lease("inv_1", "runner-b", now, 30)
                .await
                .unwrap()
        );
        ledger
            .release_payment_lease("inv_1", "runner-b")
            .await
            .unwrap(); // not b's: no effect
        assert!(
            !ledger
                .acquire_payment_lease("inv_1", "runner-b", now, 30)
                .await
                .unwrap()
        );
        ledger
            .release_payment_lease("inv_1", "runner-a")
            .await
            .unwrap();
        assert!(
            ledger
                .acquire_payment_lease("inv_1", "runner-b", now, 30)
                .await
                .unwrap()
        );
        // An expired lease (its holder died) is free.
        assert!(
            ledger
                .acquire_payment_lease("inv_2", "runner-a", now - 100, 30)
                .await
                .unwrap()
        );
        assert!(
            ledger
                .acquire_payment_lease("inv_2", "runner-b", now, 30)
                .await
                .unwrap()
        );
    }

    pub async fn a_change_over_100_writes_is_refused_whole(ledger: Ledger) {
        let mut change = Change::new();
        for i in 0..101 {
            change
                .mark_webhook_processed(&format!("evt_{i}"), at("2027-01-01T00:00:00Z"))
                .unwrap();
        }
        assert!(matches!(
            ledger.commit(change).await,
            Err(LedgerError::ChangeTooLarge { count: 101, .. })
        ));
        assert!(!ledger.webhook_processed("evt_0").await.unwrap());
    }
}

mod corruption {
    use super::*;
    use billing_store::{AttributeValue, Condition, Item};

    fn item(pk: &str, sk: &str, attributes: &[(&str, AttributeValue)]) -> Item {
        let mut map = std::collections::HashMap::new();
        map.insert("pk".to_owned(), AttributeValue::S(pk.into()));
        map.insert("sk".to_owned(), AttributeValue::S(sk.into()));
        for (name, value) in attributes {
            map.insert((*name).to_owned(), value.clone());
        }
        Item::from(map)
    }

    fn is_corrupt_naming(error: LedgerError, key: &str) {
        let text = error.to_string();
        assert!(
            matches!(error, LedgerError::Corrupt { .. }) && text.contains(key),
            "{text}"
        );
    }

    /// Issue 16.5: a stored number that does not decode is a corruption error naming its key,
    /// never a 0 (a usage sum read as 0 under-bills), and a stored idempotent response with a
    /// field missing is corruption too, not a replayed 500 with an empty body.
    pub async fn stored_values_that_do_not_decode_are_corruption_not_zero(ledger: Ledger) {
        let table = ledger.table().clone();
        let second = at("2027-01-05T00:00:00Z");
        let usage_key = keys::usage_second("usr_1", "api_calls", second);
        ledger
            .commit({
                let mut change = Change::new();
                change.add_usage("usr_1", "api_calls", second, 5);
                change
            })
            .await
            .unwrap();
        let sum = ledger
            .usage_sum(
                "usr_1",
                "api_calls",
                second,
                second + chrono::Duration::seconds(1),
            )
            .await
            .unwrap();
        assert_eq!(sum, 5);
        // The same sum, stored as a string by a bad manual edit.
        table
            .put(
                item(
                    &usage_key.pk,
                    &usage_key.sk,
                    &[("quantity", AttributeValue::S("5".into()))],
                ),
                Condition::Always,
            )
            .await
            .unwrap();
        is_corrupt_naming(
            ledger
                .usage_sum(
                    "usr_1",
                    "api_calls",
                    second,
                    second + chrono::Duration::seconds(1),
                )
                .await
                .unwrap_err(),
            &usage_key.pk,
        );

        // A version that is not a number.
        let version_key = keys::period_usage_version("sub_1", second);
        table
            .put(
                item(
                    &version_key.pk,
                    &version_key.sk,
                    &[("version", AttributeValue::S("2".into()))],
                ),
                Condition::Always,
            )
            .await
            .unwrap();
        is_corrupt_naming(
            ledger
                .period_usage_version("sub_1", second)
                .await
                .unwrap_err(),
            &version_key.sk,
        );

        // A finished idempotent request whose stored response lost its body.
        let key = keys::idempotency("tok_1", "k1");
        table
            .put(
                item(
                    &key.pk,
                    &key.sk,
                    &[
                        ("request_hash", AttributeValue::S("h".into())),
                        ("state", AttributeValue::S("done".into())),
                        ("response_status", AttributeValue::N("201".into())),
                        ("expires_at", AttributeValue::N("99999999999".into())),
                    ],
                ),
                Condition::Always,
            )
            .await
            .unwrap();
        is_corrupt_naming(
            ledger
                .begin_request("tok_1", "k1", "h", 1_800_000_000, 60)
                .await
                .unwrap_err(),
            &key.pk,
        );
    }
}

billing_store::on_every_backend! {
    |_backend, table| Ledger::new(table) =>
    emails_are_unique_case_insensitively,
    users_are_found_by_name_prefix_in_name_order,
    dashboard_counters_move_with_each_change_or_not_at_all,
    stale_versions_are_refused,
    plan_codes_are_unique_and_lists_page_newest_first,
    one_live_subscription_per_plan_and_one_pricer_per_metric,
    a_plan_change_moves_the_metric_claims,
    due_renewals_come_from_the_time_index,
    an_invoice_is_created_once_however_many_try,
    invoice_numbers_are_gap_free_under_concurrency,
    invoices_are_found_by_user_subscription_status_and_due_time,
    a_payment_is_recorded_once_per_gateway_transaction,
    the_audit_entry_and_outbox_event_are_written_with_the_change_or_not_at_all,
    idempotency_keys_replay_refuse_reuse_and_report_in_flight,
    tokens_are_found_by_secret_until_revoked,
    webhook_events_and_the_test_clock,
    usage_counts_once_and_sums_exactly_until_sealed,
    a_payment_lease_has_one_holder_until_it_expires,
    queued_usage_survives_until_dequeued,
    a_change_over_100_writes_is_refused_whole,
    stored_values_that_do_not_decode_are_corruption_not_zero,
}
