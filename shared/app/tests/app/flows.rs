//! Billing flows end to end through the use cases, on every backend (embedded and DynamoDB
//! Local), with the test clock: the numbers are BILLING.md's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use billing_app::subscriptions::{Cancel, ChangePlan};
use billing_app::usage::IngestUsage;
use billing_app::*;
use billing_core::invoice::{InvoiceStatus, LineKind};
use billing_core::payment::AttemptOutcome;
use billing_core::plan::{PlanDraft, TierDraft, UsageChargeDraft};
use billing_core::subscription::SubscriptionStatus;
use billing_core::usage::UsageEventDraft;
use billing_ledger::{AuditFilter, InvoiceFilter, Ledger, PageRequest};

use crate::common;
use common::*;

mod cases {
    use super::*;

    pub async fn a_billing_cycle_with_duplicate_usage_bills_the_tiers_once(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, true).await;
        let usr = user(&app, "ada@example.com", "pm_card_ok").await;
        let created = subscribe(&app, &usr, "pro").await;
        let first = created.invoice.unwrap();
        assert_eq!(
            (first.number.as_str(), first.amount_due_cents, first.status),
            ("INV-000001", 2900, InvoiceStatus::Open)
        );
        let paid = runs::payment_run(&app, at("2027-01-01T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!((paid.attempted, paid.succeeded), (1, 1));

        set_clock(&app, "2027-01-15T00:00:00Z").await;
        let batch = |events| IngestUsage { events };
        usage::ingest_usage(
            &app,
            batch(vec![
                event("e1", &usr, 1_000_000, "2027-01-10T00:00:00Z"),
                event("e2", &usr, 250_000, "2027-01-11T00:00:00Z"),
            ]),
        )
        .await
        .unwrap();
        // A resent e1 (even with another quantity) and a fresh e3 in the same request.
        usage::ingest_usage(
            &app,
            batch(vec![
                event("e1", &usr, 7, "2027-01-12T00:00:00Z"),
                event("e3", &usr, 0, "2027-01-12T00:00:00Z"),
            ]),
        )
        .await
        .unwrap();
        let aggregated = usage::drain_usage_queue(&app).await.unwrap();
        assert_eq!((aggregated.counted, aggregated.duplicates), (3, 1));
        // Draining again (a redelivery) changes nothing.
        assert_eq!(usage::drain_usage_queue(&app).await.unwrap().counted, 0);
        let summary = usage::usage_summary(
            &app,
            &usr,
            "api_calls",
            at("2027-01-01T00:00:00Z"),
            at("2027-02-01T00:00:00Z"),
        )
        .await
        .unwrap();
        assert_eq!(summary.quantity, 1_250_000);

        set_clock(&app, "2027-02-01T00:00:00Z").await;
        let run = runs::invoice_run(&app, at("2027-02-01T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!((run.subscriptions_renewed, run.invoices_created), (1, 1));
        let again = runs::invoice_run(&app, at("2027-02-01T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(
            again.invoices_created, 0,
            "a second run bills nothing twice"
        );
        let invoices = invoices_of(&app, &created.subscription.id).await;
        assert_eq!(invoices.len(), 2);
        let renewal = &invoices[1];
        assert_eq!(renewal.number, "INV-000002");
        assert_eq!(
            amounts(renewal),
            [
                (LineKind::Usage, 0),
                (LineKind::Usage, 45_000),
                (LineKind::Usage, 5_000),
                (LineKind::BaseFee, 2900)
            ]
        );
        assert_eq!(renewal.amount_due_cents, 52_900);
        let paid = runs::payment_run(&app, at("2027-02-01T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(paid.succeeded, 1);
        assert_eq!(
            invoices::get_invoice(&app, &renewal.id)
                .await
                .unwrap()
                .status,
            InvoiceStatus::Paid
        );
    }

    /// The dashboard's figures, computed here by hand from the listed entities.
    async fn expected_dashboard(app: &App) -> ExpectedDashboard {
        let mut expected = ExpectedDashboard::default();
        let page = PageRequest::first(100);
        for subscription in app
            .ledger
            .subscriptions(None, None, &page)
            .await
            .unwrap()
            .data
        {
            let plan = plans::get_plan(app, &subscription.plan_code).await.unwrap();
            match subscription.status {
                SubscriptionStatus::Active => expected.active += 1,
                SubscriptionStatus::Trialing => expected.trialing += 1,
                SubscriptionStatus::PastDue => expected.past_due += 1,
                SubscriptionStatus::Canceled => continue,
            }
            if subscription.status != SubscriptionStatus::Trialing {
                // Yearly: a twelfth, rounded half away from zero, per subscription.
                expected.mrr += match plan.interval {
                    billing_core::Interval::Month => plan.amount_cents,
                    billing_core::Interval::Year => (plan.amount_cents * 2 + 12) / 24,
                };
            }
        }
        let invoices = app
            .ledger
            .invoices(&InvoiceFilter::default(), &page)
            .await
            .unwrap()
            .data;
        assert!(invoices.len() < 100);
        for invoice in &invoices {
            let status = expected
                .by_status
                .entry(invoice.status.as_str())
                .or_default();
            status.0 += 1;
            status.1 += invoice.amount_due_cents;
            let created = invoice.created_at.format("%Y-%m").to_string();
            expected.months.entry(created).or_default().0 += invoice.amount_due_cents;
            if invoice.status == InvoiceStatus::Paid {
                let paid = invoice.paid_at.unwrap().format("%Y-%m").to_string();
                expected.months.entry(paid).or_default().1 += invoice.amount_due_cents;
            }
            let payments = invoices::list_payments(app, Some(&invoice.id), None, &page)
                .await
                .unwrap()
                .data;
            let failed = payments
                .iter()
                .any(|p| p.status == billing_core::payment::PaymentStatus::Failed);
            if invoice.status == InvoiceStatus::Open && failed {
                expected.failing.0 += 1;
                expected.failing.1 += invoice.amount_due_cents;
            }
        }
        expected
    }

    #[derive(Debug, Default)]
    struct ExpectedDashboard {
        mrr: i64,
        active: i64,
        trialing: i64,
        past_due: i64,
        /// status → (count, amount due)
        by_status: std::collections::BTreeMap<&'static str, (i64, i64)>,
        /// month → (invoiced, paid)
        months: std::collections::BTreeMap<String, (i64, i64)>,
        failing: (i64, i64),
    }

    fn assert_dashboard(got: &dashboard::Dashboard, expected: &ExpectedDashboard, mrr_change: i64) {
        assert_eq!(
            (
                got.mrr_cents,
                got.mrr_change_cents,
                got.active_subscriptions,
                got.trialing_subscriptions,
                got.past_due_subscriptions
            ),
            (
                expected.mrr,
                mrr_change,
                expected.active,
                expected.trialing,
                expected.past_due
            ),
            "mrr, mrr change, active, trialing, past due"
        );
        let statuses: Vec<(&str, i64, i64)> = got
            .invoices_by_status
            .iter()
            .map(|s| (s.status.as_str(), s.count, s.amount_due_cents))
            .collect();
        let wanted: Vec<(&str, i64, i64)> = ["open", "paid", "void", "uncollectible"]
            .into_iter()
            .map(|status| {
                let (count, due) = expected.by_status.get(status).copied().unwrap_or_default();
                (status, count, due)
            })
            .collect();
        assert_eq!(statuses, wanted);
        assert_eq!(
            (
                got.failing_invoices.count,
                got.failing_invoices.amount_due_cents
            ),
            expected.failing
        );
        assert_eq!(got.revenue_by_month.len(), 12);
        for month in &got.revenue_by_month {
            let (invoiced, paid) = expected
                .months
                .get(&month.month)
                .copied()
                .unwrap_or_default();
            assert_eq!(
                (month.invoiced_cents, month.paid_cents),
                (invoiced, paid),
                "{}",
                month.month
            );
        }
        let shown: i64 = got.revenue_by_month.iter().map(|m| m.invoiced_cents).sum();
        let all: i64 = expected.months.values().map(|m| m.0).sum();
        assert_eq!(shown, all, "every invoice falls in the 12 months shown");
    }

    pub async fn the_dashboard_counts_every_transition_in_the_same_write(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, true).await;
        plan(&app, "basic", 1000, false).await;
        let yearly = PlanDraft {
            code: "annual".into(),
            name: "Annual".into(),
            amount_cents: 29_000,
            interval: "year".into(),
            ..PlanDraft::default()
        };
        plans::create_plan(&app, yearly, &admin()).await.unwrap();
        let ada = user(&app, "ada@example.com", "pm_card_ok").await;
        let bo = user(&app, "bo@example.com", "pm_card_ok").await;
        let cy = user(&app, "cy@example.com", "pm_card_declined").await;
        let di = user(&app, "di@example.com", "pm_card_ok").await;
        let ed = user(&app, "ed@example.com", "pm_card_ok").await;
        let ada_sub = subscribe(&app, &ada, "pro").await;
        subscribe(&app, &bo, "annual").await;
        subscribe(&app, &cy, "basic").await;
        let trial = subscriptions::CreateSubscription {
            user_id: di.clone(),
            plan_code: "pro".into(),
            trial_days: Some(14),
        };
        subscriptions::create_subscription(&app, trial, &admin())
            .await
            .unwrap();
        let ed_sub = subscribe(&app, &ed, "basic").await;
        // Pays ada's, bo's and ed's first invoices; cy's card is declined: past due, failing.
        runs::payment_run(&app, at("2027-01-01T00:00:00Z"))
            .await
            .unwrap();

        set_clock(&app, "2027-01-02T00:00:00Z").await;
        usage::ingest_usage(
            &app,
            IngestUsage {
                events: vec![
                    event("u1", &ada, 40, "2027-01-02T00:00:00Z"),
                    event("u2", &ada, 2, "2027-01-02T00:00:00Z"),
                    event("u1", &ada, 40, "2027-01-02T00:00:00Z"),
                ],
            },
        )
        .await
        .unwrap();
        set_clock(&app, "2027-01-05T00:00:00Z").await;
        subscriptions::cancel(
            &app,
            &ed_sub.subscription.id,
            Cancel {
                at_period_end: Some(false),
            },
            &admin(),
        )
        .await
        .unwrap();
        set_clock(&app, "2027-01-10T00:00:00Z").await;
        usage::ingest_usage(
            &app,
            IngestUsage {
                events: vec![event("u3", &ada, 7, "2027-01-09T23:59:59Z")],
            },
        )
        .await
        .unwrap();
        usage::drain_usage_queue(&app).await.unwrap();
        // A debit note on ada's paid invoice, then voided.
        let paid = ada_sub.invoice.clone().unwrap();
        let note = invoices::NoteRequest {
            amount_cents: 500,
            reason: "setup".into(),
        };
        let debit = invoices::create_debit_note(&app, &paid.id, note, &admin())
            .await
            .unwrap();
        invoices::void_invoice(&app, &debit.id, &admin())
            .await
            .unwrap();
        set_clock(&app, "2027-01-11T00:00:00Z").await;
        subscriptions::change_plan(
            &app,
            &ada_sub.subscription.id,
            ChangePlan {
                plan_code: "basic".into(),
                effective: None,
            },
            &admin(),
        )
        .await
        .unwrap();
        // The trial ends on the 15th: di becomes active with a first invoice, paid.
        set_clock(&app, "2027-01-15T00:00:00Z").await;
        runs::invoice_run(&app, at("2027-01-15T00:00:00Z"))
            .await
            .unwrap();
        runs::payment_run(&app, at("2027-01-15T00:00:00Z"))
            .await
            .unwrap();

        set_clock(&app, "2027-01-31T23:00:00Z").await;
        let january = expected_dashboard(&app).await;
        let got = dashboard::dashboard(&app, None).await.unwrap();
        assert_dashboard(&got, &january, january.mrr);
        assert_eq!(
            (january.active, january.trialing, january.past_due),
            (3, 0, 1),
            "ada, bo, di active; cy past due; ed canceled"
        );
        assert_eq!(january.mrr, 1000 + 2417 + 1000 + 2900);
        let usage: Vec<(&str, &str, i64)> = got
            .usage_by_day
            .iter()
            .map(|u| (u.day.as_str(), u.metric.as_str(), u.quantity))
            .collect();
        assert_eq!(
            usage,
            [
                ("2027-01-02", "api_calls", 42),
                ("2027-01-09", "api_calls", 7)
            ],
            "the duplicate u1 counted once"
        );

        // February: renewals across the month boundary, cy's retry fails again.
        set_clock(&app, "2027-02-01T00:00:00Z").await;
        runs::invoice_run(&app, at("2027-02-01T00:00:00Z"))
            .await
            .unwrap();
        set_clock(&app, "2027-02-02T00:00:00Z").await;
        runs::payment_run(&app, at("2027-02-02T00:00:00Z"))
            .await
            .unwrap();
        subscriptions::change_plan(
            &app,
            &ada_sub.subscription.id,
            ChangePlan {
                plan_code: "pro".into(),
                effective: None,
            },
            &admin(),
        )
        .await
        .unwrap();
        let february = expected_dashboard(&app).await;
        let got = dashboard::dashboard(&app, Some("usd")).await.unwrap();
        assert_dashboard(&got, &february, february.mrr - january.mrr);
        assert_eq!(got.as_of, at("2027-02-02T00:00:00Z"));
        assert_eq!(
            (
                got.revenue_by_month.first().unwrap().month.as_str(),
                got.revenue_by_month.last().unwrap().month.as_str()
            ),
            ("2026-03", "2027-02")
        );
        let usage: Vec<(&str, i64)> = got
            .usage_by_day
            .iter()
            .map(|u| (u.day.as_str(), u.quantity))
            .collect();
        assert_eq!(
            usage,
            [("2027-01-09", 7)],
            "the last 30 days end on 2 February: 2 January is out"
        );
        assert!(february.by_status.contains_key("void") && february.failing.0 >= 1);
        let other = dashboard::dashboard(&app, Some("eur")).await.unwrap();
        assert_eq!((other.mrr_cents, other.invoices_by_status[1].count), (0, 0));
        let refused = dashboard::dashboard(&app, Some("USD")).await.unwrap_err();
        assert_eq!(refused.param(), Some("currency"));
    }

    pub async fn a_plan_change_preview_writes_nothing_and_is_the_change(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, true).await;
        plan(&app, "basic", 1000, false).await;
        let usr = user(&app, "ada@example.com", "pm_card_ok").await;
        let sub = subscribe(&app, &usr, "pro").await.subscription;
        set_clock(&app, "2027-01-05T00:00:00Z").await;
        usage::ingest_usage(
            &app,
            IngestUsage {
                events: vec![event("e1", &usr, 150_000, "2027-01-04T00:00:00Z")],
            },
        )
        .await
        .unwrap();
        usage::drain_usage_queue(&app).await.unwrap();
        set_clock(&app, "2027-01-11T00:00:00Z").await;
        // Every write through this view of the table fails the test: the preview makes none.
        let watched = std::sync::Arc::new(billing_store::testing::FaultyTable::new(
            app.ledger.table().clone(),
        ));
        let previewing = app_on(Ledger::new(watched.clone()));
        watched.arm(1, billing_store::testing::Fault::Before);
        let request = || ChangePlan {
            plan_code: "basic".into(),
            effective: None,
        };
        let preview = subscriptions::preview_change_plan(&previewing, &sub.id, request())
            .await
            .unwrap();
        let scheduled = subscriptions::preview_change_plan(
            &previewing,
            &sub.id,
            ChangePlan {
                plan_code: "basic".into(),
                effective: Some("period_end".into()),
            },
        )
        .await
        .unwrap();
        assert!(!watched.disarm(), "the preview wrote to the table");
        assert_eq!(
            (
                scheduled.invoice,
                scheduled.subscription.pending_plan_code.as_deref()
            ),
            (None, Some("basic"))
        );

        let changed = subscriptions::change_plan(&app, &sub.id, request(), &admin())
            .await
            .unwrap();
        assert_eq!(preview.subscription, changed.subscription);
        let proposed = preview.invoice.unwrap();
        let invoice = changed.invoice.unwrap();
        assert_eq!(
            proposed,
            subscriptions::ProposedInvoice::from(invoice.clone())
        );
        assert_eq!(
            amounts(&invoice),
            [
                (LineKind::Usage, 0),
                (LineKind::Usage, 2500),
                (LineKind::ProrationCredit, -1965),
                (LineKind::BaseFee, 1000)
            ],
            "50,000 calls over the free 100,000 at 0.05¢, round(2900 × 21/31) back, the new fee"
        );
    }

    pub async fn an_upgrade_mid_period_credits_the_unused_fee(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "basic", 1000, false).await;
        plan(&app, "pro", 2900, false).await;
        let usr = user(&app, "bob@example.com", "pm_card_ok").await;
        let created = subscribe(&app, &usr, "basic").await;
        runs::payment_run(&app, at("2027-01-01T00:00:00Z"))
            .await
            .unwrap();
        set_clock(&app, "2027-01-11T00:00:00Z").await;
        let changed = subscriptions::change_plan(
            &app,
            &created.subscription.id,
            ChangePlan {
                plan_code: "pro".into(),
                effective: None,
            },
            &admin(),
        )
        .await
        .unwrap();
        let invoice = changed.invoice.unwrap();
        assert_eq!(
            amounts(&invoice),
            [(LineKind::ProrationCredit, -677), (LineKind::BaseFee, 2900)]
        );
        assert_eq!(invoice.amount_due_cents, 2223);
        assert_eq!(
            changed.subscription.current_period_end,
            at("2027-02-11T00:00:00Z")
        );
        // The same request again is a different change: pro → pro is refused.
        let same = subscriptions::change_plan(
            &app,
            &created.subscription.id,
            ChangePlan {
                plan_code: "pro".into(),
                effective: None,
            },
            &admin(),
        )
        .await;
        assert_eq!(same.unwrap_err().code(), "same_plan");
    }

    pub async fn failed_dunning_cancels_the_subscription(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, false).await;
        let usr = user(&app, "cy@example.com", "pm_card_declined").await;
        let created = subscribe(&app, &usr, "pro").await;
        let invoice_id = created.invoice.unwrap().id;
        for day in ["2027-01-01", "2027-01-02", "2027-01-04", "2027-01-06"] {
            let now = format!("{day}T00:00:00Z");
            set_clock(&app, &now).await;
            let report = runs::payment_run(&app, at(&now)).await.unwrap();
            assert_eq!((report.attempted, report.failed), (1, 1), "{day}");
            let status = subscriptions::get_subscription(&app, &created.subscription.id)
                .await
                .unwrap()
                .status;
            let expected = if day == "2027-01-06" {
                SubscriptionStatus::Canceled
            } else {
                SubscriptionStatus::PastDue
            };
            assert_eq!(status, expected, "{day}");
        }
        let invoice = invoices::get_invoice(&app, &invoice_id).await.unwrap();
        assert_eq!(
            (invoice.status, invoice.attempt_count),
            (InvoiceStatus::Uncollectible, 4)
        );
        assert_eq!(
            runs::payment_run(&app, at("2027-01-10T00:00:00Z"))
                .await
                .unwrap()
                .attempted,
            0
        );
        let audit = app
            .ledger
            .audit(
                &AuditFilter {
                    entity_id: Some(created.subscription.id.clone()),
                    action: None,
                },
                &PageRequest::first(20),
            )
            .await
            .unwrap();
        let actions: Vec<&str> = audit.data.iter().rev().map(|e| e.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "subscription.created",
                "subscription.past_due",
                "subscription.canceled"
            ]
        );
        let payments =
            invoices::list_payments(&app, Some(&invoice_id), None, &PageRequest::first(10))
                .await
                .unwrap();
        assert_eq!(payments.data.len(), 4);
        assert!(
            payments
                .data
                .iter()
                .all(|p| p.failure_code.as_deref() == Some("card_declined"))
        );
        // A declined pay-now is the 402 of the API, with the payment.
        let declined = invoices::pay_invoice(&app, &invoice_id, &admin())
            .await
            .unwrap_err();
        assert_eq!(declined.code(), "invoice_not_open");
    }

    pub async fn usage_aggregated_after_its_period_was_invoiced_is_billed_late(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, true).await;
        let usr = user(&app, "di@example.com", "pm_card_ok").await;
        let created = subscribe(&app, &usr, "pro").await;
        set_clock(&app, "2027-01-20T00:00:00Z").await;
        // Accepted in January, but the aggregator is behind the invoice run.
        usage::ingest_usage(
            &app,
            IngestUsage {
                events: vec![event("late-1", &usr, 1_200_000, "2027-01-20T00:00:00Z")],
            },
        )
        .await
        .unwrap();
        set_clock(&app, "2027-02-01T00:00:00Z").await;
        runs::invoice_run(&app, at("2027-02-01T00:00:00Z"))
            .await
            .unwrap();
        let report = usage::drain_usage_queue(&app).await.unwrap();
        assert_eq!((report.counted, report.late), (1, 1));
        let february = invoices_of(&app, &created.subscription.id).await;
        assert_eq!(
            amounts(&february[1]),
            [(LineKind::BaseFee, 2900)],
            "the January invoice had none of it"
        );
        let preview = subscriptions::upcoming_invoice(&app, &created.subscription.id)
            .await
            .unwrap();
        assert!(preview.lines.iter().any(|l| l.kind == LineKind::UsageLate));
        set_clock(&app, "2027-03-01T00:00:00Z").await;
        runs::invoice_run(&app, at("2027-03-01T00:00:00Z"))
            .await
            .unwrap();
        let march = &invoices_of(&app, &created.subscription.id).await[2];
        // 1,200,000 late units on top of 0 billed: 100,000 free, 900,000 × 0.05, 200,000 × 0.02.
        assert_eq!(
            amounts(march),
            [
                (LineKind::BaseFee, 2900),
                (LineKind::UsageLate, 0),
                (LineKind::UsageLate, 45_000),
                (LineKind::UsageLate, 4_000)
            ]
        );
        runs::invoice_run(&app, at("2027-04-01T00:00:00Z"))
            .await
            .unwrap();
        let april = &invoices_of(&app, &created.subscription.id).await[3];
        assert_eq!(
            amounts(april),
            [(LineKind::BaseFee, 2900)],
            "late usage is billed once"
        );
    }

    pub async fn concurrent_runs_bill_each_period_once_and_charge_each_invoice_once(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, false).await;
        let mut subscriptions = Vec::new();
        for i in 0..20 {
            let usr = user(&app, &format!("u{i}@example.com"), "pm_card_ok").await;
            subscriptions.push(subscribe(&app, &usr, "pro").await.subscription.id);
        }
        let now = at("2027-02-01T00:00:00Z");
        let (a, b) = tokio::join!(runs::invoice_run(&app, now), runs::invoice_run(&app, now));
        match (local_lock_timeout(a), local_lock_timeout(b)) {
            (Some(a), Some(b)) => assert_eq!(a.invoices_created + b.invoices_created, 20),
            // A run DynamoDB Local timed out on a lock is run again, as the schedule would;
            // what it had done is in the table (checked below), not in a report.
            _ => {
                again_until_done(|| runs::invoice_run(&app, now)).await;
            }
        }
        let (a, b) = tokio::join!(runs::payment_run(&app, now), runs::payment_run(&app, now));
        match (local_lock_timeout(a), local_lock_timeout(b)) {
            (Some(a), Some(b)) => assert_eq!(
                a.succeeded + b.succeeded,
                40,
                "20 first invoices and 20 renewals"
            ),
            _ => {
                again_until_done(|| runs::payment_run(&app, now)).await;
            }
        }
        for id in &subscriptions {
            let invoices = invoices_of(&app, id).await;
            assert_eq!(invoices.len(), 2);
            for invoice in &invoices {
                let payments =
                    invoices::list_payments(&app, Some(&invoice.id), None, &PageRequest::first(10))
                        .await
                        .unwrap();
                assert_eq!(payments.data.len(), 1, "one charge per invoice");
            }
        }
        let mut numbers: Vec<String> =
            invoices::list_invoices(&app, &InvoiceFilter::default(), &PageRequest::first(100))
                .await
                .unwrap()
                .data
                .into_iter()
                .map(|i| i.number)
                .collect();
        numbers.sort();
        assert_eq!(
            numbers,
            (1..=40)
                .map(billing_core::invoice::invoice_number)
                .collect::<Vec<_>>(),
            "gap-free"
        );
    }

    pub async fn a_flaky_card_succeeds_within_the_attempt(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, false).await;
        let usr = user(&app, "fl@example.com", "pm_card_flaky").await;
        let created = subscribe(&app, &usr, "pro").await;
        let paid = invoices::pay_invoice(&app, &created.invoice.unwrap().id, &admin())
            .await
            .unwrap();
        assert_eq!(
            (
                paid.invoice.status,
                paid.payment.attempt,
                paid.invoice.attempt_count
            ),
            (InvoiceStatus::Paid, 1, 1)
        );
    }

    /// Two open invoices of one subscription collected at once (found by the kill soak: the
    /// second attempt's write was stale on the subscription the first had just made past due,
    /// and the payment run answered 500). Each attempt's outcome is recorded, once.
    pub async fn two_invoices_of_one_subscription_collected_at_once_both_record(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "basic", 1000, false).await;
        plan(&app, "pro", 2900, false).await;
        for n in 0..5 {
            set_clock(&app, &format!("2027-01-0{}T00:00:00Z", n + 1)).await;
            let usr = user(&app, &format!("two-{n}@example.com"), "pm_card_declined").await;
            let created = subscribe(&app, &usr, "basic").await;
            set_clock(&app, &format!("2027-01-0{}T12:00:00Z", n + 1)).await;
            let changed = subscriptions::change_plan(
                &app,
                &created.subscription.id,
                ChangePlan {
                    plan_code: "pro".into(),
                    effective: None,
                },
                &admin(),
            )
            .await
            .unwrap();
            let (first, second) = (created.invoice.unwrap().id, changed.invoice.unwrap().id);
            let actor = admin();
            let (a, b) = tokio::join!(
                invoices::pay_invoice(&app, &first, &actor),
                invoices::pay_invoice(&app, &second, &actor)
            );
            for (id, answer) in [(&first, a), (&second, b)] {
                match answer {
                    Err(error) => assert_eq!(error.code(), "card_declined", "{id}: {error}"),
                    Ok(paid) => panic!("{id}: a declining card paid: {paid:?}"),
                }
                let invoice = invoices::get_invoice(&app, id).await.unwrap();
                assert_eq!(
                    (invoice.status, invoice.attempt_count),
                    (InvoiceStatus::Open, 1)
                );
            }
            let sub = subscriptions::get_subscription(&app, &created.subscription.id)
                .await
                .unwrap();
            assert_eq!(sub.status, SubscriptionStatus::PastDue);
        }
    }

    pub async fn usage_is_refused_whole_with_the_field_named(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, true).await;
        let usr = user(&app, "ev@example.com", "pm_card_ok").await;
        subscribe(&app, &usr, "pro").await;
        let refuse = |events: Vec<UsageEventDraft>| {
            let app = app.clone();
            async move {
                usage::ingest_usage(&app, IngestUsage { events })
                    .await
                    .unwrap_err()
            }
        };
        let unknown = refuse(vec![
            event("a", &usr, 1, "2027-01-01T00:00:00Z"),
            event("b", "usr_nobody", 1, "2027-01-01T00:00:00Z"),
        ])
        .await;
        assert_eq!(
            (unknown.code(), unknown.param()),
            ("unknown_user", Some("events[1].user_id"))
        );
        let future = refuse(vec![event("c", &usr, 1, "2027-01-01T00:05:01Z")]).await;
        assert_eq!(
            (future.code(), future.param()),
            ("timestamp_in_future", Some("events[0].timestamp"))
        );
        let closed = refuse(vec![event("d", &usr, 1, "2026-12-31T23:59:59Z")]).await;
        assert_eq!(
            (closed.code(), closed.param()),
            ("period_closed", Some("events[0].timestamp"))
        );
        let negative = refuse(vec![event("e", &usr, -1, "2027-01-01T00:00:00Z")]).await;
        assert_eq!(negative.param(), Some("events[0].quantity"));
        assert_eq!(
            usage::drain_usage_queue(&app).await.unwrap().counted,
            0,
            "nothing half-accepted"
        );
    }

    pub async fn a_webhook_completes_the_invoice_once(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, false).await;
        let usr = user(&app, "wh@example.com", "pm_card_declined").await;
        let created = subscribe(&app, &usr, "pro").await;
        let invoice_id = created.invoice.unwrap().id;
        let event = |id: &str| webhooks::PaymentEvent {
            gateway: "stripe",
            event_id: id.to_owned(),
            payment_id: "pi_123".to_owned(),
            invoice_id: Some(invoice_id.clone()),
            outcome: Some(AttemptOutcome::Succeeded),
        };
        let outcome = webhooks::handle_payment_event(&app, &event("evt_1"))
            .await
            .unwrap();
        assert_eq!(outcome, webhooks::WebhookOutcome::Processed);
        assert_eq!(
            invoices::get_invoice(&app, &invoice_id)
                .await
                .unwrap()
                .status,
            InvoiceStatus::Paid
        );
        let again = webhooks::handle_payment_event(&app, &event("evt_1"))
            .await
            .unwrap();
        assert_eq!(again, webhooks::WebhookOutcome::Redelivered);
        // Another event for the same charge records nothing new either.
        let other = webhooks::handle_payment_event(&app, &event("evt_2"))
            .await
            .unwrap();
        assert_eq!(other, webhooks::WebhookOutcome::Processed);
        let payments =
            invoices::list_payments(&app, Some(&invoice_id), None, &PageRequest::first(10))
                .await
                .unwrap();
        assert_eq!(payments.data.len(), 1);
        assert_eq!(
            (
                payments.data[0].gateway.as_str(),
                payments.data[0].gateway_txn_id.as_deref()
            ),
            ("stripe", Some("pi_123"))
        );
    }

    pub async fn a_refused_plan_change_leaves_the_period_open_for_usage(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, true).await; // prices api_calls
        let storage = |code: &str, metrics: &[&str]| PlanDraft {
            code: code.into(),
            name: code.into(),
            amount_cents: 500,
            interval: "month".into(),
            usage_charges: metrics
                .iter()
                .map(|m| UsageChargeDraft {
                    metric: (*m).into(),
                    mode: "volume".into(),
                    tiers: vec![TierDraft {
                        up_to: None,
                        unit_amount_decimal: "1".into(),
                        flat_amount_cents: None,
                    }],
                })
                .collect(),
            ..PlanDraft::default()
        };
        plans::create_plan(&app, storage("storage", &["storage_gb"]), &admin())
            .await
            .unwrap();
        plans::create_plan(
            &app,
            storage("both", &["storage_gb", "api_calls"]),
            &admin(),
        )
        .await
        .unwrap();
        let usr = user(&app, "rf@example.com", "pm_card_ok").await;
        subscribe(&app, &usr, "pro").await;
        let stored = subscribe(&app, &usr, "storage").await.subscription;
        set_clock(&app, "2027-01-10T00:00:00Z").await;
        // "both" prices api_calls, which the pro subscription prices: refused at commit.
        let refused = subscriptions::change_plan(
            &app,
            &stored.id,
            ChangePlan {
                plan_code: "both".into(),
                effective: None,
            },
            &admin(),
        )
        .await;
        assert_eq!(refused.unwrap_err().code(), "metric_already_priced");
        // The storage period was not closed: its usage still counts on time.
        let gb = UsageEventDraft {
            id: "gb1".into(),
            user_id: usr.clone(),
            metric: "storage_gb".into(),
            quantity: 42,
            timestamp: Some(at("2027-01-10T00:00:00Z")),
        };
        usage::ingest_usage(&app, IngestUsage { events: vec![gb] })
            .await
            .unwrap();
        let report = usage::drain_usage_queue(&app).await.unwrap();
        assert_eq!((report.counted, report.late), (1, 0));
        set_clock(&app, "2027-02-01T00:00:00Z").await;
        runs::invoice_run(&app, at("2027-02-01T00:00:00Z"))
            .await
            .unwrap();
        let renewal = &invoices_of(&app, &stored.id).await[1];
        assert_eq!(
            amounts(renewal),
            [(LineKind::Usage, 42), (LineKind::BaseFee, 500)]
        );
    }

    /// A plan that prices `metrics` by volume at 1¢ a unit, 500¢ a month.
    fn metered_plan(code: &str, metrics: &[&str]) -> PlanDraft {
        PlanDraft {
            code: code.into(),
            name: code.into(),
            amount_cents: 500,
            interval: "month".into(),
            usage_charges: metrics
                .iter()
                .map(|m| UsageChargeDraft {
                    metric: (*m).into(),
                    mode: "volume".into(),
                    tiers: vec![TierDraft {
                        up_to: None,
                        unit_amount_decimal: "1".into(),
                        flat_amount_cents: None,
                    }],
                })
                .collect(),
            ..PlanDraft::default()
        }
    }

    async fn change(
        app: &App,
        subscription_id: &str,
        plan_code: &str,
        effective: &str,
    ) -> Result<subscriptions::SubscriptionWithInvoice, AppError> {
        let request = ChangePlan {
            plan_code: plan_code.into(),
            effective: Some(effective.into()),
        };
        subscriptions::change_plan(app, subscription_id, request, &admin()).await
    }

    /// Issue 16.3: a plan change, now or at the period end, is refused when a new subscription
    /// to that plan would be (a metric another live subscription prices, a plan the user
    /// already holds, an archived plan); and a scheduled change that became impossible after
    /// it was accepted never leaves the subscription stuck.
    pub async fn a_plan_change_keeps_the_rules_of_a_new_subscription(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, true).await; // prices api_calls
        plan(&app, "basic", 1000, false).await;
        for draft in [
            metered_plan("calls", &["api_calls"]),
            metered_plan("storage", &["storage_gb"]),
            metered_plan("disks", &["storage_gb"]),
            metered_plan("old", &[]),
        ] {
            plans::create_plan(&app, draft, &admin()).await.unwrap();
        }
        plans::archive_plan(&app, "old", &admin()).await.unwrap();
        let usr = user(&app, "rules@example.com", "pm_card_ok").await;
        let pro = subscribe(&app, &usr, "pro").await.subscription;
        let basic = subscribe(&app, &usr, "basic").await.subscription;
        set_clock(&app, "2027-01-10T00:00:00Z").await;
        for effective in ["now", "period_end"] {
            let refused = change(&app, &basic.id, "calls", effective)
                .await
                .unwrap_err();
            assert_eq!(
                (refused.kind(), refused.code(), refused.param()),
                (
                    ErrorKind::Conflict,
                    "metric_already_priced",
                    Some("plan_code")
                ),
                "{effective}: api_calls is priced by the pro subscription"
            );
            // The preview refuses what the change would.
            let request = ChangePlan {
                plan_code: "calls".into(),
                effective: Some(effective.into()),
            };
            let previewed = subscriptions::preview_change_plan(&app, &basic.id, request)
                .await
                .unwrap_err();
            assert_eq!(previewed.code(), "metric_already_priced", "{effective}");
            let refused = change(&app, &basic.id, "pro", effective).await.unwrap_err();
            assert_eq!(
                (refused.kind(), refused.code()),
                (ErrorKind::Conflict, "subscription_exists"),
                "{effective}: the user already holds pro"
            );
            let refused = change(&app, &basic.id, "old", effective).await.unwrap_err();
            assert_eq!(
                (refused.kind(), refused.code()),
                (ErrorKind::Conflict, "plan_archived"),
                "{effective}"
            );
        }
        let unchanged = subscriptions::get_subscription(&app, &basic.id)
            .await
            .unwrap();
        assert_eq!(unchanged.pending_plan_code, None, "nothing was scheduled");

        // Scheduled while nobody else priced storage_gb; then a new subscription, to another
        // plan that prices it, takes it.
        let storage_user = user(&app, "later@example.com", "pm_card_ok").await;
        let first = subscribe(&app, &storage_user, "basic").await.subscription;
        let scheduled = change(&app, &first.id, "storage", "period_end")
            .await
            .unwrap();
        assert_eq!(
            scheduled.subscription.pending_plan_code.as_deref(),
            Some("storage")
        );
        subscribe(&app, &storage_user, "disks").await;
        set_clock(&app, "2027-02-10T00:00:00Z").await;
        let report = runs::invoice_run(&app, at("2027-02-10T00:00:00Z"))
            .await
            .unwrap();
        assert!(report.invoices_created >= 1);
        let renewed = subscriptions::get_subscription(&app, &first.id)
            .await
            .unwrap();
        assert_eq!(
            (
                renewed.plan_code.as_str(),
                renewed.pending_plan_code.as_deref(),
                renewed.current_period_start
            ),
            ("basic", None, at("2027-02-10T00:00:00Z")),
            "renewed on its current plan, the schedule dropped"
        );
        assert_eq!(
            amounts(&invoices_of(&app, &first.id).await[1]),
            [(LineKind::BaseFee, 1000)]
        );
        let dropped = app
            .ledger
            .audit(
                &AuditFilter {
                    entity_id: Some(first.id.clone()),
                    action: Some(billing_core::audit::AuditAction::SubscriptionPlanChangeDropped),
                },
                &PageRequest::first(10),
            )
            .await
            .unwrap()
            .data;
        assert_eq!(
            dropped.len(),
            1,
            "the audit log says the change was dropped"
        );
        assert_eq!(dropped[0].data["pending_plan_code"], "storage");
        assert_eq!(dropped[0].data["code"], "metric_already_priced");
        assert!(
            dropped[0].data["reason"]
                .as_str()
                .unwrap()
                .contains("storage_gb"),
            "{:?}",
            dropped[0].data
        );
        // Not stuck: the next period renews like any other.
        set_clock(&app, "2027-03-10T00:00:00Z").await;
        runs::invoice_run(&app, at("2027-03-10T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(invoices_of(&app, &first.id).await.len(), 3);
        let _ = pro;
    }

    /// Issue 16.4: usage accepted before a cancel now, or before a change to a plan that does
    /// not price its metric, and aggregated only after it, is billed as `usage_late`: on the
    /// subscription's next invoice while it lives, on an invoice of its own once it has ended.
    pub async fn usage_accepted_before_a_cancel_or_a_plan_change_is_billed_late(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, true).await; // graduated: 100,000 free, then 0.05
        plan(&app, "basic", 1000, false).await;
        let canceled_user = user(&app, "gone@example.com", "pm_card_ok").await;
        let changed_user = user(&app, "moved@example.com", "pm_card_ok").await;
        let canceled = subscribe(&app, &canceled_user, "pro").await.subscription;
        let changed = subscribe(&app, &changed_user, "pro").await.subscription;
        set_clock(&app, "2027-01-10T00:00:00Z").await;
        // Accepted now; the aggregator is held back until after the changes.
        usage::ingest_usage(
            &app,
            IngestUsage {
                events: vec![
                    event("c1", &canceled_user, 200_000, "2027-01-10T00:00:00Z"),
                    event("m1", &changed_user, 150_000, "2027-01-10T00:00:00Z"),
                ],
            },
        )
        .await
        .unwrap();
        set_clock(&app, "2027-01-15T00:00:00Z").await;
        subscriptions::cancel(
            &app,
            &canceled.id,
            Cancel {
                at_period_end: Some(false),
            },
            &admin(),
        )
        .await
        .unwrap();
        change(&app, &changed.id, "basic", "now").await.unwrap();
        let report = usage::drain_usage_queue(&app).await.unwrap();
        assert_eq!(
            (report.counted, report.late),
            (2, 2),
            "both events are late"
        );

        let run = runs::invoice_run(&app, at("2027-01-15T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(
            run.invoices_created, 1,
            "only the ended subscription bills now"
        );
        let own = invoices_of(&app, &canceled.id).await;
        let late = own.last().unwrap();
        assert_eq!(
            late.billing_reason,
            billing_core::invoice::BillingReason::UsageLate
        );
        // 200,000 units of January under pro: 100,000 free, 100,000 × 0.05.
        assert_eq!(
            amounts(late),
            [(LineKind::UsageLate, 0), (LineKind::UsageLate, 5_000)]
        );
        assert_eq!(
            (late.lines[1].period_start, late.lines[1].period_end),
            (at("2027-01-01T00:00:00Z"), at("2027-01-15T00:00:00Z"))
        );
        let again = runs::invoice_run(&app, at("2027-01-20T00:00:00Z"))
            .await
            .unwrap();
        assert_eq!(again.invoices_created, 0, "billed once, and nothing early");
        assert_eq!(invoices_of(&app, &canceled.id).await.len(), own.len());

        // The moved subscription bills its late usage at its next renewal, by the old plan.
        set_clock(&app, "2027-02-15T00:00:00Z").await;
        runs::invoice_run(&app, at("2027-02-15T00:00:00Z"))
            .await
            .unwrap();
        let renewal = invoices_of(&app, &changed.id)
            .await
            .last()
            .cloned()
            .unwrap();
        assert_eq!(
            amounts(&renewal),
            [
                (LineKind::BaseFee, 1000),
                (LineKind::UsageLate, 0),
                (LineKind::UsageLate, 2_500)
            ]
        );
        set_clock(&app, "2027-03-15T00:00:00Z").await;
        runs::invoice_run(&app, at("2027-03-15T00:00:00Z"))
            .await
            .unwrap();
        let next = invoices_of(&app, &changed.id)
            .await
            .last()
            .cloned()
            .unwrap();
        assert_eq!(amounts(&next), [(LineKind::BaseFee, 1000)], "billed once");
    }

    /// Issue 16.7: `past_due` returns to `active` only when no invoice of the subscription is
    /// still failing, and voiding the failing invoice clears it; the retry schedule is the
    /// configured one.
    pub async fn past_due_ends_only_when_no_invoice_is_failing(app: App) {
        let mut app = app;
        app.dunning = billing_app::config::dunning_from_lookup(|name| {
            (name == billing_app::config::PAYMENT_RETRY_SCHEDULE_VAR).then(|| "12h,10d,20d".into())
        })
        .unwrap();
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, false).await;
        let usr = user(&app, "due@example.com", "pm_card_declined").await;
        let created = subscribe(&app, &usr, "pro").await;
        let january = created.invoice.unwrap();
        runs::payment_run(&app, at("2027-01-01T00:00:00Z"))
            .await
            .unwrap();
        let failed = invoices::get_invoice(&app, &january.id).await.unwrap();
        assert_eq!(
            (failed.attempt_count, failed.next_payment_attempt),
            (1, Some(at("2027-01-01T12:00:00Z"))),
            "the configured schedule: the first retry 12 hours after finalization"
        );
        let status = || async {
            subscriptions::get_subscription(&app, &created.subscription.id)
                .await
                .unwrap()
                .status
        };
        assert_eq!(status().await, SubscriptionStatus::PastDue);
        set_clock(&app, "2027-02-01T00:00:00Z").await;
        runs::invoice_run(&app, at("2027-02-01T00:00:00Z"))
            .await
            .unwrap();
        runs::payment_run(&app, at("2027-02-01T00:00:00Z"))
            .await
            .unwrap();
        let february = invoices_of(&app, &created.subscription.id).await[1].clone();
        assert_eq!(
            invoices::get_invoice(&app, &february.id)
                .await
                .unwrap()
                .attempt_count,
            1,
            "the renewal invoice is failing too"
        );
        let card = users::UpdateUser {
            name: None,
            payment_method: Some(Some("pm_card_ok".into())),
        };
        users::update_user(&app, &usr, card, &admin())
            .await
            .unwrap();
        invoices::pay_invoice(&app, &january.id, &admin())
            .await
            .unwrap();
        assert_eq!(
            status().await,
            SubscriptionStatus::PastDue,
            "February is still failing"
        );
        invoices::void_invoice(&app, &february.id, &admin())
            .await
            .unwrap();
        assert_eq!(
            status().await,
            SubscriptionStatus::Active,
            "nothing is failing now"
        );
        let recovered = app
            .ledger
            .audit(
                &AuditFilter {
                    entity_id: Some(created.subscription.id.clone()),
                    action: Some(billing_core::audit::AuditAction::SubscriptionRecovered),
                },
                &PageRequest::first(10),
            )
            .await
            .unwrap()
            .data;
        assert_eq!(recovered.len(), 1);
        assert_eq!(recovered[0].data["invoice_id"], february.id);
    }

    pub async fn notes_and_voids_follow_their_rules(app: App) {
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, false).await;
        let usr = user(&app, "no@example.com", "pm_card_ok").await;
        let created = subscribe(&app, &usr, "pro").await;
        let invoice = created.invoice.unwrap();
        let note = |amount_cents| invoices::NoteRequest {
            amount_cents,
            reason: "goodwill".into(),
        };
        assert_eq!(
            invoices::create_credit_note(&app, &invoice.id, note(100), &admin())
                .await
                .unwrap_err()
                .code(),
            "invoice_not_paid"
        );
        invoices::pay_invoice(&app, &invoice.id, &admin())
            .await
            .unwrap();
        invoices::create_credit_note(&app, &invoice.id, note(2000), &admin())
            .await
            .unwrap();
        let over = invoices::create_credit_note(&app, &invoice.id, note(901), &admin())
            .await
            .unwrap_err();
        assert_eq!(
            (over.code(), over.kind()),
            ("credit_note_over_cap", ErrorKind::Unprocessable)
        );
        assert_eq!(
            users::get_user(&app, &usr)
                .await
                .unwrap()
                .credit_balance_cents,
            2000
        );
        let debit = invoices::create_debit_note(&app, &invoice.id, note(500), &admin())
            .await
            .unwrap();
        assert_eq!(
            (debit.status, debit.related_invoice_id.as_deref()),
            (InvoiceStatus::Paid, Some(invoice.id.as_str())),
            "the credit balance pays it"
        );
        assert_eq!(
            users::get_user(&app, &usr)
                .await
                .unwrap()
                .credit_balance_cents,
            1500
        );
        assert_eq!(
            invoices::void_invoice(&app, &invoice.id, &admin())
                .await
                .unwrap_err()
                .code(),
            "invoice_not_open"
        );
        let canceled = subscriptions::cancel(
            &app,
            &created.subscription.id,
            Cancel {
                at_period_end: Some(false),
            },
            &admin(),
        )
        .await
        .unwrap();
        assert_eq!(canceled.subscription.status, SubscriptionStatus::Canceled);
    }
}

billing_store::on_every_backend! {
    |_backend, table| app_on(Ledger::new(table)) =>
    a_billing_cycle_with_duplicate_usage_bills_the_tiers_once,
    the_dashboard_counts_every_transition_in_the_same_write,
    a_plan_change_preview_writes_nothing_and_is_the_change,
    an_upgrade_mid_period_credits_the_unused_fee,
    failed_dunning_cancels_the_subscription,
    usage_aggregated_after_its_period_was_invoiced_is_billed_late,
    concurrent_runs_bill_each_period_once_and_charge_each_invoice_once,
    a_flaky_card_succeeds_within_the_attempt,
    two_invoices_of_one_subscription_collected_at_once_both_record,
    usage_is_refused_whole_with_the_field_named,
    notes_and_voids_follow_their_rules,
    a_webhook_completes_the_invoice_once,
    a_refused_plan_change_leaves_the_period_open_for_usage,
    a_plan_change_keeps_the_rules_of_a_new_subscription,
    usage_accepted_before_a_cancel_or_a_plan_change_is_billed_late,
    past_due_ends_only_when_no_invoice_is_failing,
}
