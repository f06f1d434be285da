//! Fault injection, on every backend: usage delivered twice and out of order, a fault at each
//! write of the aggregator and of the payment path followed by a rerun, a process that dies
//! after the gateway charged, and two invoice runners with two payment runners over 1,000
//! subscriptions (200 on DynamoDB Local). After each: usage totals exact, one invoice per period, at most one
//! successful charge per invoice, nothing stuck.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use billing_app::ports::{ChargeOutcome, ChargeRequest, PaymentGateway, SimulatedGateway};
use billing_app::users::UpdateUser;
use billing_app::*;
use billing_core::invoice::InvoiceStatus;
use billing_core::payment::PaymentStatus;
use billing_core::usage::UsageEvent;
use billing_ledger::keys::DUE_SHARDS;
use billing_ledger::{Ledger, PageRequest, QueuedUsage};
use billing_store::Table;
use billing_store::testing::{self as fixtures, Backend, Fault, FaultyTable};
use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::common;
use common::*;

/// The simulated gateway as a real one behaves towards its callers, plus what the suites
/// check: every request it was sent, by idempotency key. A real gateway charges once per key
/// and refuses a key reused with other parameters; `charges()` and `key_reuse()` tell whether
/// the system ever relied on either. Armed with `die_after_next_charge`, the next call charges
/// and then never answers, like a process that died after the gateway took the money.
#[derive(Default)]
struct WatchedGateway {
    inner: SimulatedGateway,
    requests: Mutex<HashMap<String, Vec<ChargeRequest>>>,
    succeeded: Mutex<HashMap<String, u32>>,
    die_after_next_charge: AtomicBool,
}

impl WatchedGateway {
    /// Successful charges per invoice (distinct idempotency keys that succeeded).
    fn charges(&self) -> HashMap<String, u32> {
        let succeeded = self.succeeded.lock().unwrap();
        let requests = self.requests.lock().unwrap();
        let mut per_invoice = HashMap::new();
        for key in succeeded.keys() {
            let invoice = requests[key][0].invoice_id.clone();
            *per_invoice.entry(invoice).or_insert(0) += 1;
        }
        per_invoice
    }

    /// Keys that were sent with different requests (a real gateway refuses the second).
    fn key_reuse(&self) -> Vec<String> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, sent)| sent.iter().any(|request| *request != sent[0]))
            .map(|(key, _)| key.clone())
            .collect()
    }
}

#[async_trait]
impl PaymentGateway for WatchedGateway {
    fn name(&self) -> &'static str {
        "simulated"
    }

    async fn charge(&self, request: &ChargeRequest) -> ChargeOutcome {
        self.requests
            .lock()
            .unwrap()
            .entry(request.idempotency_key.clone())
            .or_default()
            .push(request.clone());
        let outcome = self.inner.charge(request).await;
        if matches!(outcome, ChargeOutcome::Succeeded { .. }) {
            *self
                .succeeded
                .lock()
                .unwrap()
                .entry(request.idempotency_key.clone())
                .or_insert(0) += 1;
        }
        if self.die_after_next_charge.swap(false, Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        outcome
    }
}

/// The app on `table` with a watched gateway and a one-second payment lease, so a lease left
/// by a "dead" attempt expires within the test.
fn watched_app(table: Arc<dyn Table>) -> (App, Arc<WatchedGateway>) {
    let gateway = Arc::new(WatchedGateway::default());
    let mut app = app_on(Ledger::new(table));
    app.gateway = gateway.clone();
    app.payment_lease_seconds = 1;
    (app, gateway)
}

async fn wait_for_leases_to_expire() {
    tokio::time::sleep(Duration::from_millis(2100)).await;
}

fn usage(id: &str, user_id: &str, quantity: u64, second: u32) -> UsageEvent {
    UsageEvent {
        id: id.into(),
        user_id: user_id.into(),
        metric: "api_calls".into(),
        quantity,
        timestamp: at("2027-01-05T00:00:00Z") + chrono::Duration::seconds(second.into()),
    }
}

async fn january_usage(app: &App, user_id: &str) -> u64 {
    usage::usage_summary(
        app,
        user_id,
        "api_calls",
        at("2027-01-01T00:00:00Z"),
        at("2027-02-01T00:00:00Z"),
    )
    .await
    .unwrap()
    .quantity
}

/// Every user's January usage is exactly their accepted total, and the usage per day adds up to
/// the whole total: each event counted once, in the sums and in the day counters alike.
async fn assert_counted_once(
    app: &App,
    users: &[String],
    totals: &HashMap<String, u64>,
    context: &str,
) {
    for user_id in users {
        assert_eq!(
            january_usage(app, user_id).await,
            totals[user_id],
            "{context}: {user_id}'s usage"
        );
    }
    let per_day: i64 = counters(app).await.usage.values().sum();
    let total: u64 = totals.values().sum();
    assert_eq!(
        per_day,
        i64::try_from(total).unwrap(),
        "{context}: usage per day counted once"
    );
}

/// `messages` SQS-like messages of `per_message` events each over `users`, with one event in
/// four a resend of an event sent before (producers resend, sometimes in the same request);
/// returns them and the exact total per user.
fn usage_messages(
    users: &[String],
    messages: usize,
    per_message: usize,
) -> (Vec<QueuedUsage>, HashMap<String, u64>) {
    let mut batches = Vec::new();
    let mut sent: Vec<UsageEvent> = Vec::new();
    let mut totals: HashMap<String, u64> = HashMap::new();
    for m in 0..messages {
        let mut events = Vec::new();
        for e in 0..per_message {
            let n = m * per_message + e;
            if e % 4 == 3 && !sent.is_empty() {
                events.push(sent[n % sent.len()].clone());
                continue;
            }
            let user_id = &users[n % users.len()];
            let quantity = u64::try_from(n % 7 + 1).unwrap();
            let event = usage(
                &format!("e{n}"),
                user_id,
                quantity,
                u32::try_from(n % 90).unwrap(),
            );
            *totals.entry(user_id.clone()).or_insert(0) += quantity;
            sent.push(event.clone());
            events.push(event);
        }
        batches.push(QueuedUsage {
            batch_id: format!("msg-{m}"),
            events,
            queue_position: String::new(),
        });
    }
    (batches, totals)
}

async fn metered_users(app: &App, count: usize) -> Vec<String> {
    set_clock(app, "2027-01-01T00:00:00Z").await;
    plan(app, "pro", 2900, true).await;
    let mut users = Vec::new();
    for i in 0..count {
        let usr = user(app, &format!("m{i}@example.com"), "pm_card_ok").await;
        subscribe(app, &usr, "pro").await;
        users.push(usr);
    }
    set_clock(app, "2027-01-10T00:00:00Z").await;
    users
}

/// The dashboard counters (usd, January's usage): every figure exact after faults and reruns.
async fn counters(app: &App) -> billing_ledger::DashboardCounters {
    app.ledger
        .dashboard("usd", "2027-01-01", "2027-02-01")
        .await
        .unwrap()
}

fn counter(map: &std::collections::BTreeMap<String, i64>, name: &str) -> i64 {
    map.get(name).copied().unwrap_or(0)
}

/// Open invoices and due subscriptions left after a run: none when nothing is stuck.
async fn nothing_due(app: &App, now: &str) {
    for shard in 0..DUE_SHARDS {
        let (renewals, _) = app
            .ledger
            .due_renewals(shard, at(now), 10, None)
            .await
            .unwrap();
        assert!(renewals.is_empty(), "shard {shard} still has due renewals");
        let (payments, _) = app
            .ledger
            .due_payments(shard, at(now), 10, None)
            .await
            .unwrap();
        assert!(payments.is_empty(), "shard {shard} still has due payments");
    }
}

async fn payments_of(app: &App, invoice_id: &str) -> Vec<billing_core::payment::Payment> {
    invoices::list_payments(app, Some(invoice_id), None, &PageRequest::first(100))
        .await
        .unwrap()
        .data
}

mod cases {
    use super::*;

    pub async fn every_usage_message_delivered_twice_and_shuffled_counts_once(
        table: Arc<dyn Table>,
    ) {
        let app = app_on(Ledger::new(table));
        let users = metered_users(&app, 3).await;
        let (messages, totals) = usage_messages(&users, 30, 20);
        let mut deliveries: Vec<QueuedUsage> =
            messages.iter().chain(messages.iter()).cloned().collect();
        deliveries.shuffle(&mut rand::rngs::StdRng::seed_from_u64(7));
        // Four consumers at once, as Lambda runs several batches side by side.
        let mut consumers = tokio::task::JoinSet::new();
        for chunk in deliveries.chunks(deliveries.len().div_ceil(4)) {
            let app = app.clone();
            let chunk = chunk.to_vec();
            consumers.spawn(async move {
                for message in &chunk {
                    again_until_done(|| usage::aggregate_batch(&app, message)).await;
                }
            });
        }
        while let Some(done) = consumers.join_next().await {
            done.unwrap();
        }
        for user_id in &users {
            assert_eq!(january_usage(&app, user_id).await, totals[user_id]);
        }
    }

    pub async fn a_fault_at_each_write_of_the_aggregator_then_a_rerun_counts_once(
        backend: Backend,
    ) {
        for fault in [Fault::Before, Fault::After] {
            for nth in 1.. {
                let (table, _keep) = fresh_table(backend).await;
                let faulty = Arc::new(FaultyTable::new(table));
                let app = app_on(Ledger::new(faulty.clone()));
                let users = metered_users(&app, 2).await;
                // Small, because every write is broken in turn, each time on a fresh table.
                let (messages, totals) = usage_messages(&users, 3, 5);
                faulty.arm(nth, fault);
                for message in &messages {
                    // A failed message is redelivered by SQS later; its neighbours go on.
                    let _ = usage::aggregate_batch(&app, message).await;
                }
                if !faulty.disarm() {
                    assert!(nth > 3, "the aggregation writes at least 3 times");
                    break;
                }
                // SQS redelivers every message whose deletion it did not see.
                for message in &messages {
                    again_until_done(|| usage::aggregate_batch(&app, message)).await;
                }
                assert_counted_once(
                    &app,
                    &users,
                    &totals,
                    &format!("fault {fault:?} at write {nth}"),
                )
                .await;
            }
        }
    }

    /// Issue 18: passes of many messages (as the SQS function and the local drain run them),
    /// every message delivered twice, shuffled, in passes of different sizes by four consumers
    /// at once, some passes holding a message twice: each event counts once, and so does the
    /// usage per day.
    pub async fn passes_of_many_messages_delivered_twice_count_once(backend: Backend) {
        let (table, _keep) = fresh_table(backend).await;
        let mut app = app_on(Ledger::new(table));
        // Four passes at once: DynamoDB Local times out on its locks at the default width.
        app.usage_claims_in_flight = 16;
        app.usage_chunks_in_flight = 4;
        // DynamoDB Local serialises the four consumers' conflicting transactions (each lost
        // race backs off), so it runs a third of the messages: still four consumers whose
        // passes hold 7 to 20 messages, every message twice, conflicting on shared sums.
        let message_count = match backend {
            Backend::Embedded => 120,
            Backend::DynamoDb => 40,
        };
        let users = metered_users(&app, 3).await;
        let (messages, totals) = usage_messages(&users, message_count, 5);
        let mut deliveries: Vec<QueuedUsage> =
            messages.iter().chain(messages.iter()).cloned().collect();
        deliveries.shuffle(&mut rand::rngs::StdRng::seed_from_u64(18));
        let mut consumers = tokio::task::JoinSet::new();
        for (c, share) in deliveries.chunks(deliveries.len().div_ceil(4)).enumerate() {
            let app = app.clone();
            let share = share.to_vec();
            consumers.spawn(async move {
                for pass in share.chunks(7 + 11 * c) {
                    again_until_done(|| usage::aggregate_pass(&app, pass)).await;
                }
            });
        }
        while let Some(done) = consumers.join_next().await {
            done.unwrap();
        }
        // One pass holding each message twice adds nothing more.
        let twice: Vec<QueuedUsage> = messages[..10]
            .iter()
            .chain(messages[..10].iter())
            .cloned()
            .collect();
        let again = again_until_done(|| usage::aggregate_pass(&app, &twice)).await;
        assert_eq!(again.counted + again.duplicates, 100, "{again:?}");
        assert_counted_once(&app, &users, &totals, "passes of many messages").await;
    }

    /// Issue 18: a pass of many one-event messages commits in several chunks; a fault at each
    /// of its chunk commits (before or after the write) leaves it part done, and a rerun in
    /// passes grouped differently finishes it with every event counted once.
    pub async fn a_pass_that_dies_mid_way_is_finished_by_a_rerun(backend: Backend) {
        // Enough one-event messages for several chunks of at most 96 writes (a marker and a
        // sum each): four chunks on the embedded store; two on DynamoDB Local, where each
        // fault's fresh table and ~500 writes take a minute, not a second.
        let messages_in_pass: usize = match backend {
            Backend::Embedded => 150,
            Backend::DynamoDb => 60,
        };
        for fault in [Fault::Before, Fault::After] {
            let mut part_done_seen = false;
            // The claims are the first `messages_in_pass` writes; the chunk commits follow.
            let mut nth = u64::try_from(messages_in_pass).unwrap() + 1;
            let mut lock_timeouts = 0;
            loop {
                let (table, _keep) = fresh_table(backend).await;
                let faulty = Arc::new(FaultyTable::new(table));
                let mut app = app_on(Ledger::new(faulty.clone()));
                // DynamoDB Local times out on its own locks at the default widths.
                app.usage_claims_in_flight = 32;
                app.usage_chunks_in_flight = 4;
                let users = metered_users(&app, 3).await;
                let (messages, totals) = usage_messages(&users, messages_in_pass, 1);
                let total: u64 = totals.values().sum();
                faulty.arm(nth, fault);
                let outcome = usage::aggregate_pass(&app, &messages).await;
                if !faulty.disarm() {
                    // No fault fired: the pass made fewer writes than `nth`, so it is done —
                    // unless DynamoDB Local timed it out on a lock before the armed write
                    // (any other error fails here); then the same write is tried again.
                    if local_lock_timeout(outcome).is_some() {
                        break;
                    }
                    lock_timeouts += 1;
                    assert!(lock_timeouts < 10, "DynamoDB Local timed out ten passes");
                    continue;
                }
                let mut partial = 0;
                for user_id in &users {
                    partial += january_usage(&app, user_id).await;
                }
                assert!(partial <= total, "fault {fault:?} at write {nth}");
                if partial > 0 && partial < total {
                    part_done_seen = true;
                }
                // The reruns, as SQS redelivers: a pass DynamoDB Local timed out goes again.
                for pass in messages.chunks(33) {
                    again_until_done(|| usage::aggregate_pass(&app, pass)).await;
                }
                again_until_done(|| usage::aggregate_pass(&app, &messages)).await;
                assert_counted_once(
                    &app,
                    &users,
                    &totals,
                    &format!("fault {fault:?} at write {nth}"),
                )
                .await;
                nth += 1;
            }
            // Before a chunk's write, the pass stops with that chunk unwritten; after it (the
            // write made, its answer lost) every chunk may be written, the pass still failed.
            if matches!(fault, Fault::Before) {
                assert!(
                    part_done_seen,
                    "some fault left the pass part done (it had several chunks)"
                );
            }
        }
    }

    /// Issue 16.6: a charge that succeeded is answered as one even when releasing its lease
    /// fails afterwards (the lease expires); a webhook whose event could not be recorded is a
    /// failure (5xx, so Stripe delivers it again), never "redelivered".
    pub async fn error_paths_tell_the_truth(table: Arc<dyn Table>) {
        let faulty = Arc::new(FaultyTable::new(table));
        let (app, _) = watched_app(faulty.clone());
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, false).await;
        let usr = user(&app, "lease@example.com", "pm_card_ok").await;
        let invoice = subscribe(&app, &usr, "pro").await.invoice.unwrap();
        // The writes of one attempt: lease, pending marker, the outcome, the lease's release.
        faulty.arm(4, Fault::Before);
        let paid = invoices::pay_invoice(&app, &invoice.id, &admin()).await;
        assert!(
            faulty.disarm(),
            "the release of the lease was the write that failed"
        );
        let paid = paid.expect("a successful charge is answered as one");
        assert_eq!(paid.payment.status, PaymentStatus::Succeeded);
        assert_eq!(paid.invoice.status, InvoiceStatus::Paid);

        // A declined attempt records its gateway transaction; Stripe then reports that same
        // PaymentIntent as succeeded. The payment is recorded already, so only the event is
        // remembered — and that write fails.
        let declined = user(&app, "hook@example.com", "pm_card_declined").await;
        plan(&app, "team", 900, false).await;
        let open = subscribe(&app, &declined, "team").await.invoice.unwrap();
        invoices::pay_invoice(&app, &open.id, &admin())
            .await
            .expect_err("declined");
        let txn = format!(
            "sim_{}",
            billing_core::payment::attempt_idempotency_key(&open.id, 1)
        );
        let event = webhooks::PaymentEvent {
            gateway: "stripe",
            event_id: "evt_lost".to_owned(),
            payment_id: txn,
            invoice_id: Some(open.id.clone()),
            outcome: Some(billing_core::payment::AttemptOutcome::Succeeded),
        };
        faulty.arm(2, Fault::Before);
        let answer = webhooks::handle_payment_event(&app, &event).await;
        assert!(
            faulty.disarm(),
            "recording the event was the write that failed"
        );
        let error = answer.expect_err("an event that was not recorded is not answered 200");
        assert_eq!(error.kind(), ErrorKind::Unavailable);
        // Stripe's retry is then recorded once.
        assert_eq!(
            webhooks::handle_payment_event(&app, &event).await.unwrap(),
            webhooks::WebhookOutcome::Processed
        );
        assert!(app.ledger.webhook_processed("evt_lost").await.unwrap());
    }

    pub async fn a_fault_at_each_write_of_the_payment_path_then_a_rerun_charges_once(
        backend: Backend,
    ) {
        for fault in [Fault::Before, Fault::After] {
            for nth in 1.. {
                let (table, _keep) = fresh_table(backend).await;
                let faulty = Arc::new(FaultyTable::new(table));
                let (app, gateway) = watched_app(faulty.clone());
                set_clock(&app, "2027-01-01T00:00:00Z").await;
                plan(&app, "pro", 2900, false).await;
                let usr = user(&app, "pay@example.com", "pm_card_ok").await;
                let invoice = subscribe(&app, &usr, "pro").await.invoice.unwrap();
                let now = at("2027-01-01T00:00:00Z");
                faulty.arm(nth, fault);
                let _ = runs::payment_run(&app, now).await;
                if !faulty.disarm() {
                    assert!(nth > 3, "an attempt writes at least 3 times");
                    break;
                }
                wait_for_leases_to_expire().await;
                runs::payment_run(&app, now).await.unwrap();
                let context = format!("fault {fault:?} at write {nth}");
                let stored = invoices::get_invoice(&app, &invoice.id).await.unwrap();
                assert_eq!(stored.status, InvoiceStatus::Paid, "{context}");
                let payments = payments_of(&app, &invoice.id).await;
                assert_eq!(
                    payments
                        .iter()
                        .filter(|p| p.status == PaymentStatus::Succeeded)
                        .count(),
                    1,
                    "{context}: one recorded success"
                );
                assert_eq!(gateway.charges()[&invoice.id], 1, "{context}: one charge");
                assert!(gateway.key_reuse().is_empty(), "{context}");
                assert!(
                    app.ledger
                        .pending_attempt(&invoice.id)
                        .await
                        .unwrap()
                        .is_none(),
                    "{context}: nothing left pending"
                );
                let counted = counters(&app).await;
                assert_eq!(
                    (
                        counter(&counted.invoices, "open_count"),
                        counter(&counted.invoices, "paid_count"),
                        counter(&counted.invoices, "paid_amount_due_cents"),
                        counter(&counted.months["2027-01"], "paid_cents"),
                        counter(&counted.subscriptions, "active"),
                    ),
                    (0, 1, 2900, 2900, 1),
                    "{context}: the counters moved once, with the payment"
                );
                nothing_due(&app, "2027-01-01T00:00:00Z").await;
            }
        }
    }

    pub async fn an_attempt_that_died_after_charging_is_resolved_with_its_own_request(
        table: Arc<dyn Table>,
    ) {
        let (app, gateway) = watched_app(table);
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, false).await;
        let usr = user(&app, "died@example.com", "pm_card_ok").await;
        let invoice = subscribe(&app, &usr, "pro").await.invoice.unwrap();
        let now = at("2027-01-01T00:00:00Z");

        gateway.die_after_next_charge.store(true, Ordering::SeqCst);
        {
            // The run charges and then never hears back, like a process that died there; it is
            // dropped once the gateway has taken the money, however long the store took to get
            // there (a fixed 2 s was too short for a loaded DynamoDB Local).
            let run = runs::payment_run(&app, now);
            tokio::pin!(run);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            while gateway.die_after_next_charge.load(Ordering::SeqCst) {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the run reached the gateway within 60 s"
                );
                tokio::select! {
                    ended = &mut run => panic!(
                        "the run ended ({}) though the gateway never answered",
                        if ended.is_ok() { "ok" } else { "with an error" }
                    ),
                    () = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            }
        }
        let pending = app.ledger.pending_attempt(&invoice.id).await.unwrap();
        assert_eq!(
            pending.map(|p| (p.attempt, p.payment_method)),
            Some((1, Some("pm_card_ok".into()))),
            "the attempt is recorded as pending, with the request it sent"
        );
        assert!(payments_of(&app, &invoice.id).await.is_empty());

        // Meanwhile the customer switches to a card that would be declined: a new request
        // would record a decline for money already taken.
        let switch = UpdateUser {
            name: None,
            payment_method: Some(Some("pm_card_declined".into())),
        };
        users::update_user(&app, &usr, switch, &admin())
            .await
            .unwrap();
        wait_for_leases_to_expire().await;
        let report = runs::payment_run(&app, now).await.unwrap();
        assert_eq!((report.attempted, report.succeeded), (1, 1));

        let stored = invoices::get_invoice(&app, &invoice.id).await.unwrap();
        assert_eq!(
            (stored.status, stored.attempt_count),
            (InvoiceStatus::Paid, 1)
        );
        let payments = payments_of(&app, &invoice.id).await;
        assert_eq!(
            payments
                .iter()
                .map(|p| (p.status, p.attempt))
                .collect::<Vec<_>>(),
            [(PaymentStatus::Succeeded, 1)]
        );
        assert_eq!(gateway.charges()[&invoice.id], 1);
        assert!(
            gateway.key_reuse().is_empty(),
            "the same key was sent with the same request"
        );
        assert!(
            app.ledger
                .pending_attempt(&invoice.id)
                .await
                .unwrap()
                .is_none()
        );
    }

    /// Two invoice runners and two payment runners at once over `subscriptions` monthly
    /// subscriptions falling due together.
    pub async fn two_invoice_runners_and_two_payment_runners_at_once(
        table: Arc<dyn Table>,
        subscriptions: usize,
    ) {
        let (app, gateway) = watched_app(table);
        set_clock(&app, "2027-01-01T00:00:00Z").await;
        plan(&app, "pro", 2900, false).await;
        let mut setup = tokio::task::JoinSet::new();
        for worker in 0..8 {
            let app = app.clone();
            setup.spawn(async move {
                let mut ids = Vec::new();
                for i in (worker..subscriptions).step_by(8) {
                    let usr = user(&app, &format!("c{i}@example.com"), "pm_card_ok").await;
                    ids.push(subscribe(&app, &usr, "pro").await.subscription.id);
                }
                ids
            });
        }
        let mut ids = Vec::new();
        while let Some(created) = setup.join_next().await {
            ids.extend(created.unwrap());
        }
        let count = u64::try_from(subscriptions).unwrap();
        let now = at("2027-02-01T00:00:00Z");
        set_clock(&app, "2027-02-01T00:00:00Z").await;
        let (a, b, c, d) = tokio::join!(
            runs::invoice_run(&app, now),
            runs::invoice_run(&app, now),
            runs::payment_run(&app, now),
            runs::payment_run(&app, now),
        );
        let (a, b) = (local_lock_timeout(a), local_lock_timeout(b));
        let (c, d) = (local_lock_timeout(c), local_lock_timeout(d));
        match (a, b) {
            (Some(a), Some(b)) => assert_eq!(a.invoices_created + b.invoices_created, count),
            // A run DynamoDB Local timed out is run again, as the schedule would; what it
            // had done before is in the table, not in a report.
            _ => {
                again_until_done(|| runs::invoice_run(&app, now)).await;
            }
        }
        let reported = c.zip(d).map(|(c, d)| c.succeeded + d.succeeded);
        // Renewal invoices finalized while the payment runners were passing are collected by
        // the next run, as the schedule would.
        let (e, f) = tokio::join!(runs::payment_run(&app, now), runs::payment_run(&app, now));
        let (e, f) = (local_lock_timeout(e), local_lock_timeout(f));
        match (reported, e, f) {
            (Some(early), Some(e), Some(f)) => assert_eq!(
                early + e.succeeded + f.succeeded,
                2 * count,
                "each subscription's first invoice and its renewal"
            ),
            _ => {
                again_until_done(|| runs::payment_run(&app, now)).await;
            }
        }
        let charges = gateway.charges();
        assert_eq!(charges.len(), 2 * subscriptions);
        assert!(charges.values().all(|&n| n == 1), "one charge per invoice");
        assert!(gateway.key_reuse().is_empty());
        let mut numbers = Vec::new();
        for id in &ids {
            let invoices = invoices_of(&app, id).await;
            assert_eq!(invoices.len(), 2, "one invoice per period");
            for invoice in invoices {
                assert_eq!(invoice.status, InvoiceStatus::Paid);
                numbers.push(invoice.number);
            }
        }
        numbers.sort();
        assert_eq!(
            numbers,
            (1..=2 * count)
                .map(billing_core::invoice::invoice_number)
                .collect::<Vec<_>>(),
            "gap-free numbering"
        );
        // Concurrent writers of the sharded counters lost nothing and counted nothing twice.
        let counted = counters(&app).await;
        let count = i64::try_from(count).unwrap();
        assert_eq!(
            (
                counter(&counted.subscriptions, "active"),
                counter(&counted.subscriptions, "mrr_cents"),
                counter(&counted.invoices, "open_count"),
                counter(&counted.invoices, "paid_count"),
                counter(&counted.invoices, "paid_amount_due_cents"),
                counter(&counted.months["2027-02"], "invoiced_cents"),
                counter(&counted.months["2027-02"], "paid_cents"),
            ),
            (
                count,
                2900 * count,
                0,
                2 * count,
                2 * 2900 * count,
                2900 * count,
                2 * 2900 * count
            ),
            "both periods' invoices were paid in February"
        );
        nothing_due(&app, "2027-02-01T00:00:00Z").await;
    }
}

/// A fresh table of `backend` and whatever must live as long as it (the embedded store's
/// directory), for the cases that need one per fault.
async fn fresh_table(backend: Backend) -> (Arc<dyn Table>, fixtures::Fixture) {
    let fixture = backend.fixture("faults").await.unwrap();
    (fixture.table.clone(), fixture)
}

billing_store::on_every_backend! {
    |_backend, table| table =>
        every_usage_message_delivered_twice_and_shuffled_counts_once,
        an_attempt_that_died_after_charging_is_resolved_with_its_own_request,
        error_paths_tell_the_truth;
    |backend, _table| backend =>
        a_fault_at_each_write_of_the_aggregator_then_a_rerun_counts_once,
        a_pass_that_dies_mid_way_is_finished_by_a_rerun,
        passes_of_many_messages_delivered_twice_count_once,
        a_fault_at_each_write_of_the_payment_path_then_a_rerun_charges_once,
}

// The size on the embedded store; DynamoDB Local, a single-threaded Java emulator that
// takes a quarter of an hour for 200 (four runners' conflicting transactions, each lost race
// backing off), runs the same case smaller: the semantics under test are the backend's
// conditions and transactions, which 50 subscriptions over 16 shards already race on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_invoice_runners_and_two_payment_runners_over_1000_subscriptions_embedded() {
    let fixture = fixtures::embedded("runners_at_once").await.unwrap();
    cases::two_invoice_runners_and_two_payment_runners_at_once(fixture.table.clone(), 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_invoice_runners_and_two_payment_runners_over_50_subscriptions_dynamodb() {
    let Some(fixture) = fixtures::dynamodb("runners_at_once").await else {
        return;
    };
    cases::two_invoice_runners_and_two_payment_runners_at_once(fixture.table.clone(), 50).await;
}
