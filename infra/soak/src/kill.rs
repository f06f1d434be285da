//! The kill soak: seeded mixed traffic against billing-local while a second task SIGKILLs and
//! restarts it at seeded random moments, then a reconciliation of what the server holds
//! against the driver's own model of what it accepted.
//!
//! Every plan prices the metric `units` with one volume tier at 1¢ a unit, so a usage line's
//! amount equals its quantity and the billed quantities can be checked event by event.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::client::{Api, Outcome, Stats};
use crate::server::Server;
use crate::time::{DAY, START, parse, rfc3339};

pub const METRIC: &str = "units";
const PLANS: [(&str, i64); 2] = [("soak_basic", 1000), ("soak_pro", 2900)];
/// Event timestamps lie this far at most behind the clock.
const EVENT_LAG_MAX: i64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    Ok,
    Flaky,
    Declined,
}

impl Card {
    fn payment_method(self) -> &'static str {
        match self {
            Card::Ok => "pm_card_ok",
            Card::Flaky => "pm_card_flaky",
            Card::Declined => "pm_card_declined",
        }
    }
}

struct User {
    id: String,
    card: Card,
    /// Accepted events: id → (quantity, timestamp) of the first accepted copy.
    events: HashMap<String, (u64, i64)>,
    /// The live subscription as the driver knows it, and since when it prices the metric.
    live: Option<(String, i64)>,
    subscriptions: Vec<String>,
}

#[derive(Default)]
struct Counts {
    batches_accepted: u64,
    batches_rejected: BTreeMap<String, u64>,
    batches_resent: u64,
    duplicates_sent: u64,
    ops: BTreeMap<&'static str, u64>,
    statuses: BTreeMap<String, u64>,
}

struct Soak {
    api: Api,
    rng: StdRng,
    now: i64,
    users: Vec<User>,
    /// Accepted batches, resent now and then: every copy is a duplicate.
    history: Vec<Value>,
    next_event: u64,
    next_key: u64,
    counts: Counts,
    discrepancies: Vec<String>,
    seed: u64,
}

pub struct Settings {
    pub seed: u64,
    pub seconds: u64,
    pub kill_every_ms: (u64, u64),
}

impl Soak {
    fn key(&mut self, what: &str) -> String {
        self.next_key += 1;
        format!("soak-{}-{what}-{}", self.seed, self.next_key)
    }

    fn op(&mut self, name: &'static str, status: u16, body: &Value) {
        *self.counts.ops.entry(name).or_default() += 1;
        let code = body["error"]["code"].as_str().unwrap_or("");
        *self
            .counts
            .statuses
            .entry(format!("{name} {status} {code}").trim_end().to_owned())
            .or_default() += 1;
    }

    async fn advance(&mut self, seconds: i64) -> Result<(), String> {
        self.now += seconds;
        let key = self.key("clock");
        let (status, body) = self
            .api
            .post_repeatable("/v1/test-clock", &json!({"now": rfc3339(self.now)}), &key)
            .await?;
        self.op("test-clock", status, &body);
        if status != 200 {
            // A resend under a new key after the first one applied is the same instant again.
            let clock = self.api.get("/v1/test-clock").await?;
            if parse(&clock["now"]) != Some(self.now) {
                self.discrepancies
                    .push(format!("test clock: set {} got {status} {body}", self.now));
            }
        }
        Ok(())
    }

    /// One usage batch: new events for users with a live subscription, sometimes a duplicate
    /// of an accepted event with other fields, sometimes an invalid event that must reject it
    /// whole; or a resent accepted batch.
    fn batch(&mut self) -> Option<(Value, bool)> {
        if !self.history.is_empty() && self.rng.random_bool(0.15) {
            self.counts.batches_resent += 1;
            let index = self.rng.random_range(0..self.history.len());
            return Some((self.history[index].clone(), false));
        }
        let now = self.now;
        let candidates: Vec<usize> = (0..self.users.len())
            .filter(|&i| {
                self.users[i]
                    .live
                    .as_ref()
                    .is_some_and(|(_, since)| now - since >= 2)
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let mut events = Vec::new();
        for _ in 0..self.rng.random_range(1..=20) {
            let Some(&u) = candidates.choose(&mut self.rng) else {
                break;
            };
            let since = self.users[u].live.as_ref().map_or(now, |(_, s)| *s);
            let lag = self
                .rng
                .random_range(1..=EVENT_LAG_MAX.min(now - since - 1).max(1));
            self.next_event += 1;
            events.push(json!({"id": format!("e{}", self.next_event), "user_id": self.users[u].id,
                "metric": METRIC, "quantity": self.rng.random_range(1..=1000u64), "timestamp": rfc3339(now - lag)}));
        }
        if self.rng.random_bool(0.10) {
            let u = *candidates.choose(&mut self.rng)?;
            let accepted: Vec<String> = self.users[u].events.keys().take(50).cloned().collect();
            if let Some(id) = accepted.choose(&mut self.rng) {
                self.counts.duplicates_sent += 1;
                events.push(
                    json!({"id": id, "user_id": self.users[u].id, "metric": METRIC,
                    "quantity": 999_999, "timestamp": rfc3339(now - 1)}),
                );
            }
        }
        let invalid = self.rng.random_bool(0.05);
        if invalid {
            let u = *candidates.choose(&mut self.rng)?;
            events.push(
                json!({"id": "bad", "user_id": self.users[u].id, "metric": METRIC, "quantity": -1}),
            );
        }
        Some((json!({ "events": events }), invalid))
    }

    fn accept(&mut self, batch: &Value) {
        for event in batch["events"].as_array().into_iter().flatten() {
            let (Some(user), Some(id), Some(quantity), Some(ts)) = (
                event["user_id"].as_str(),
                event["id"].as_str(),
                event["quantity"].as_u64(),
                parse(&event["timestamp"]),
            ) else {
                continue;
            };
            if let Some(u) = self.users.iter_mut().find(|u| u.id == user) {
                u.events.entry(id.to_owned()).or_insert((quantity, ts));
            }
        }
        self.history.push(batch.clone());
    }

    async fn usage(&mut self) -> Result<(), String> {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..self.rng.random_range(1..=3) {
            // Batches already sent are still awaited below: their answers belong in the model.
            let Some((batch, invalid)) = self.batch() else {
                break;
            };
            let key = self.key("usage");
            let api = self.api.clone();
            tasks.spawn(async move {
                let answer = api.post_repeatable("/v1/usage", &batch, &key).await;
                (batch, invalid, answer)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            let (batch, invalid, answer) = joined.map_err(|e| e.to_string())?;
            let (status, body) = answer?;
            self.op("usage", status, &body);
            match (status, invalid) {
                (202, false) => {
                    self.counts.batches_accepted += 1;
                    self.accept(&batch);
                }
                (400, _) => {
                    let code = body["error"]["code"].as_str().unwrap_or("?").to_owned();
                    if !invalid && code != "period_closed" {
                        self.discrepancies
                            .push(format!("usage batch rejected: {body} for {batch}"));
                    }
                    *self.counts.batches_rejected.entry(code).or_default() += 1;
                }
                _ => self.discrepancies.push(format!(
                    "usage batch (invalid: {invalid}) answered {status} {body}"
                )),
            }
        }
        Ok(())
    }

    async fn subscription(&self, id: &str) -> Result<Value, String> {
        self.api.get(&format!("/v1/subscriptions/{id}")).await
    }

    async fn change_plan(&mut self, effective: &str) -> Result<(), String> {
        let live: Vec<String> = self
            .users
            .iter()
            .filter_map(|u| u.live.as_ref().map(|(s, _)| s.clone()))
            .collect();
        let Some(id) = live.choose(&mut self.rng).cloned() else {
            return Ok(());
        };
        let current = self.subscription(&id).await?;
        let target = if current["plan_code"] == PLANS[0].0 {
            PLANS[1].0
        } else {
            PLANS[0].0
        };
        let key = self.key("change");
        let body = json!({"plan_code": target, "effective": effective});
        // The plan is not in the model (usage is billed whatever the plan): an outcome lost
        // with its key needs no observation.
        if let Outcome::Answer { status, body } = self
            .api
            .post(&format!("/v1/subscriptions/{id}/change-plan"), &body, &key)
            .await?
        {
            self.op(
                if effective == "now" {
                    "change-plan now"
                } else {
                    "change-plan period_end"
                },
                status,
                &body,
            );
        }
        Ok(())
    }

    async fn cancel(&mut self, at_period_end: bool) -> Result<(), String> {
        let live: Vec<usize> = (0..self.users.len())
            .filter(|&i| self.users[i].live.is_some())
            .collect();
        let Some(&u) = live.choose(&mut self.rng) else {
            return Ok(());
        };
        let Some((id, _)) = self.users[u].live.clone() else {
            return Ok(());
        };
        let key = self.key("cancel");
        let path = format!("/v1/subscriptions/{id}/cancel");
        let name = if at_period_end {
            "cancel at_period_end"
        } else {
            "cancel now"
        };
        let ended = match self
            .api
            .post(&path, &json!({ "at_period_end": at_period_end }), &key)
            .await?
        {
            Outcome::Answer { status, body } => {
                self.op(name, status, &body);
                // 409: already canceled (a declined card's dunning ended it).
                status == 200 || status == 409
            }
            Outcome::InProgress => {
                let now = self.subscription(&id).await?;
                now["status"] == "canceled" || now["cancel_at_period_end"] == true
            }
        };
        if ended {
            // After a cancel at period end the subscription still prices the metric until its
            // renewal, but the driver sends it no more usage: what was sent is all billable.
            self.users[u].live = None;
        }
        Ok(())
    }

    async fn subscribe(&mut self) -> Result<(), String> {
        let idle: Vec<usize> = (0..self.users.len())
            .filter(|&i| self.users[i].live.is_none())
            .collect();
        let Some(&u) = idle.choose(&mut self.rng) else {
            return Ok(());
        };
        let plan = PLANS.choose(&mut self.rng).map_or(PLANS[0].0, |p| p.0);
        let key = self.key("subscribe");
        let user = self.users[u].id.clone();
        let body = json!({"user_id": user, "plan_code": plan});
        let created = match self.api.post("/v1/subscriptions", &body, &key).await? {
            Outcome::Answer { status, body } => {
                self.op("subscribe", status, &body);
                (status == 201)
                    .then(|| body["id"].as_str().map(str::to_owned))
                    .flatten()
            }
            Outcome::InProgress => {
                let known = &self.users[u].subscriptions;
                self.api
                    .list(&format!("/v1/subscriptions?user_id={user}"))
                    .await?
                    .iter()
                    .filter(|s| s["status"] != "canceled")
                    .filter_map(|s| s["id"].as_str())
                    .find(|id| !known.iter().any(|k| k == id))
                    .map(str::to_owned)
            }
        };
        if let Some(id) = created {
            self.users[u].subscriptions.push(id.clone());
            self.users[u].live = Some((id, self.now));
        }
        Ok(())
    }

    async fn run(&mut self, what: &'static str) -> Result<(), String> {
        let key = self.key(what);
        let (status, body) = self
            .api
            .post_repeatable(&format!("/v1/{what}"), &json!({}), &key)
            .await?;
        self.op(what, status, &body);
        if status != 200 {
            self.discrepancies.push(format!("{what}: {status} {body}"));
        }
        Ok(())
    }

    /// `POST /v1/invoices/{id}/pay` on an open invoice racing a payment run.
    async fn pay_race(&mut self) -> Result<(), String> {
        let open = self.api.get("/v1/invoices?status=open&limit=10").await?;
        let ids: Vec<String> = open["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["id"].as_str().map(str::to_owned))
            .collect();
        let Some(id) = ids.choose(&mut self.rng).cloned() else {
            return Ok(());
        };
        let (pay_key, run_key) = (self.key("pay"), self.key("payment-runs"));
        let (path, empty) = (format!("/v1/invoices/{id}/pay"), json!({}));
        let (pay, run) = tokio::join!(
            self.api.post(&path, &empty, &pay_key),
            self.api
                .post_repeatable("/v1/payment-runs", &empty, &run_key)
        );
        if let Outcome::Answer { status, body } = pay? {
            self.op("pay", status, &body);
        }
        let (status, body) = run?;
        self.op("payment-runs", status, &body);
        Ok(())
    }

    /// Stripe reports a success for an open invoice of a declining card (as if the customer
    /// had paid another way), delivered up to three times, sometimes with a second event for
    /// the same PaymentIntent: one payment, one `paid`, whatever the deliveries and kills.
    async fn webhook(&mut self) -> Result<(), String> {
        let declined: HashSet<&str> = self
            .users
            .iter()
            .filter(|u| u.card == Card::Declined)
            .map(|u| u.id.as_str())
            .collect();
        let open = self.api.get("/v1/invoices?status=open&limit=50").await?;
        let ids: Vec<String> = open["data"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["user_id"].as_str().is_some_and(|u| declined.contains(u)))
            .filter_map(|i| i["id"].as_str().map(str::to_owned))
            .collect();
        let Some(invoice) = ids.choose(&mut self.rng).cloned() else {
            return Ok(());
        };
        let mut events = vec![self.key("evt")];
        if self.rng.random_bool(0.3) {
            events.push(self.key("evt"));
        }
        for event in events {
            let body = json!({"id": event, "type": "payment_intent.succeeded",
                "data": {"object": {"id": format!("pi_{invoice}"), "metadata": {"invoice_id": invoice}}}})
            .to_string();
            for _ in 0..self.rng.random_range(1..=3) {
                let signature = stripe_signature(WEBHOOK_SECRET, self.now, &body);
                let (status, answer) = self.api.deliver_webhook(&body, &signature).await?;
                self.op("webhook", status, &answer);
                if status != 200 {
                    self.discrepancies
                        .push(format!("webhook {event} for {invoice}: {status} {answer}"));
                }
            }
        }
        Ok(())
    }

    async fn step(&mut self) -> Result<(), String> {
        let advance = match self.rng.random_range(0..100) {
            0..70 => self.rng.random_range(60..6 * 3600),
            70..95 => self.rng.random_range(DAY..5 * DAY),
            _ => self.rng.random_range(20 * DAY..40 * DAY),
        };
        self.advance(advance).await?;
        self.usage().await?;
        match self.rng.random_range(0..100) {
            0..20 => self.run("invoice-runs").await?,
            20..40 => self.run("payment-runs").await?,
            40..48 => self.pay_race().await?,
            48..55 => self.change_plan("now").await?,
            55..62 => self.change_plan("period_end").await?,
            62..67 => self.cancel(false).await?,
            67..71 => self.cancel(true).await?,
            71..78 => self.subscribe().await?,
            78..84 => self.webhook().await?,
            _ => {}
        }
        Ok(())
    }

    async fn setup(&mut self) -> Result<(), String> {
        self.now = START;
        let (status, body) = self
            .api
            .post_repeatable(
                "/v1/test-clock",
                &json!({"now": rfc3339(START)}),
                "setup-clock",
            )
            .await?;
        expect(status, 200, "setting the test clock", &body)?;
        for (code, amount) in PLANS {
            let plan = json!({"code": code, "name": code, "amount_cents": amount, "interval": "month",
                "usage_charges": [{"metric": METRIC, "mode": "volume",
                    "tiers": [{"up_to": null, "unit_amount_decimal": "1"}]}]});
            let (status, body) = self
                .api
                .post_repeatable("/v1/plans", &plan, &format!("setup-plan-{code}"))
                .await?;
            expect(status, 201, "creating a plan", &body)?;
        }
        for i in 0..12 {
            let card = [Card::Ok, Card::Flaky, Card::Declined][i % 3];
            let user = json!({"email": format!("soak-{}-{i}@example.com", self.seed),
                "payment_method": card.payment_method()});
            let (status, body) = self
                .api
                .post_repeatable("/v1/users", &user, &format!("setup-user-{i}"))
                .await?;
            expect(status, 201, "creating a user", &body)?;
            self.users.push(User {
                id: body["id"].as_str().unwrap_or_default().to_owned(),
                card,
                events: HashMap::new(),
                live: None,
                subscriptions: Vec::new(),
            });
        }
        for u in 0..self.users.len() {
            let plan = PLANS[u % 2].0;
            let body = json!({"user_id": self.users[u].id, "plan_code": plan});
            let (status, body) = self
                .api
                .post_repeatable("/v1/subscriptions", &body, &format!("setup-sub-{u}"))
                .await?;
            expect(status, 201, "creating a subscription", &body)?;
            let id = body["id"].as_str().unwrap_or_default().to_owned();
            self.users[u].subscriptions.push(id.clone());
            self.users[u].live = Some((id, self.now));
        }
        Ok(())
    }

    /// Past every period end and every retry: what should be collected is.
    async fn settle(&mut self) -> Result<(), String> {
        // Leases of attempts killed with their process expire first.
        tokio::time::sleep(Duration::from_secs(PAYMENT_LEASE_SECONDS + 1)).await;
        self.advance(35 * DAY).await?;
        self.run("invoice-runs").await?;
        self.run("payment-runs").await?;
        for days in [1, 2, 2, 1] {
            self.advance(days * DAY).await?;
            self.run("invoice-runs").await?;
            self.run("payment-runs").await?;
        }
        Ok(())
    }

    fn total(user: &User) -> u64 {
        user.events.values().map(|(q, _)| q).sum()
    }

    async fn summary(&self, user: &User) -> Result<u64, String> {
        let body = self
            .api
            .get(&format!(
                "/v1/usage/summary?user_id={}&metric={METRIC}&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
                user.id
            ))
            .await?;
        body["quantity"]
            .as_u64()
            .ok_or_else(|| format!("usage summary without a quantity: {body}"))
    }

    /// Until the aggregator has counted every accepted event (or a minute has passed).
    async fn aggregated(&self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        for user in &self.users {
            while self.summary(user).await? != Self::total(user) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        Ok(())
    }
}

/// A killed payment attempt holds its invoice this long (wall clock) before another attempt
/// may resolve it: short, so the final collection need not wait two minutes.
pub const PAYMENT_LEASE_SECONDS: u64 = 3;

/// The secret billing-local is started with for `/v1/webhooks/stripe`.
pub const WEBHOOK_SECRET: &str = "whsec_soak";

/// `Stripe-Signature` for `body` signed at `timestamp`, as Stripe computes it.
fn stripe_signature(secret: &str, timestamp: i64, body: &str) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(format!("{timestamp}.{body}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

fn expect(status: u16, wanted: u16, what: &str, body: &Value) -> Result<(), String> {
    if status == wanted {
        Ok(())
    } else {
        Err(format!("{what}: {status} {body}"))
    }
}

pub struct Report {
    pub discrepancies: Vec<String>,
}

pub async fn run(
    mut server: Server,
    settings: Settings,
    label: &str,
    data_dir: &Path,
) -> Result<Report, String> {
    server.start().await?;
    let stats = Arc::new(Stats::default());
    let api = Api::new(server.base.clone(), stats.clone());
    let mut soak = Soak {
        api,
        rng: StdRng::seed_from_u64(settings.seed),
        now: START,
        users: Vec::new(),
        history: Vec::new(),
        next_event: 0,
        next_key: 0,
        counts: Counts::default(),
        discrepancies: Vec::new(),
        seed: settings.seed,
    };
    soak.setup().await?;
    // A token made through the API: after the run its secret must be nowhere on disk (the
    // embedded store's files, billing-local's log), only its hash.
    let (status, created) = soak
        .api
        .post_repeatable(
            "/v1/tokens",
            &json!({"name": "soak", "scopes": ["read"]}),
            "setup-token",
        )
        .await?;
    expect(status, 201, "creating a token", &created)?;
    let token = created["token"].as_str().unwrap_or_default().to_owned();

    let server = Arc::new(Mutex::new(server));
    let stop = Arc::new(AtomicBool::new(false));
    let kills = Arc::new(AtomicU64::new(0));
    let killer = {
        let (server, stop, kills) = (server.clone(), stop.clone(), kills.clone());
        let mut rng = StdRng::seed_from_u64(settings.seed.wrapping_add(0x6b69_6c6c));
        let (low, high) = settings.kill_every_ms;
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let wait = rng.random_range(low..=high);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let mut server = server.lock().await;
                server.kill();
                kills.fetch_add(1, Ordering::Relaxed);
                server.start().await?;
            }
            Ok::<(), String>(())
        })
    };

    let started = Instant::now();
    let mut steps = 0u64;
    let mut traffic = Ok(());
    while started.elapsed() < Duration::from_secs(settings.seconds) {
        steps += 1;
        if let Err(error) = soak.step().await {
            traffic = Err(error);
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
    killer.await.map_err(|e| e.to_string())??;
    traffic?;

    // Whatever was accepted is aggregated and billed; then one more kill, so the figures
    // below are read from a process that started on the data the others left.
    soak.aggregated().await?;
    soak.settle().await?;
    {
        let mut server = server.lock().await;
        server.kill();
        kills.fetch_add(1, Ordering::Relaxed);
        server.start().await?;
    }
    let figures = reconcile(&mut soak).await?;
    let scanned = secrets_at_rest(&mut soak, &token, data_dir).await?;

    let server_errors = stats
        .server_errors
        .lock()
        .map(|e| e.clone())
        .unwrap_or_default();
    for error in &server_errors {
        soak.discrepancies.push(format!("5xx: {error}"));
    }
    let events: usize = soak.users.iter().map(|u| u.events.len()).sum();
    let quantity: u64 = soak.users.iter().map(Soak::total).sum();
    let log = server.lock().await.log_path().display().to_string();
    println!(
        "soak kill [{label}] seed={} seconds={} steps={steps}",
        settings.seed, settings.seconds
    );
    println!(
        "  requests={} answers lost to a kill={} (replayed after restart: {}, key still held so resent or observed: {}) kills survived={}",
        stats.requests.load(Ordering::Relaxed),
        stats.unknown.load(Ordering::Relaxed),
        stats.replayed.load(Ordering::Relaxed),
        stats.in_progress.load(Ordering::Relaxed),
        kills.load(Ordering::Relaxed)
    );
    println!(
        "  events accepted={events} (quantity {quantity}) batches accepted={} resent={} duplicate ids sent={} rejected={:?}",
        soak.counts.batches_accepted,
        soak.counts.batches_resent,
        soak.counts.duplicates_sent,
        soak.counts.batches_rejected
    );
    println!("  {figures}");
    println!("  {scanned}");
    println!("  answers: {:?}", soak.counts.statuses);
    println!("  discrepancies={}", soak.discrepancies.len());
    for d in soak.discrepancies.iter().take(40) {
        println!("    {d}");
    }
    if !soak.discrepancies.is_empty() {
        println!(
            "  billing-local's log: {log}; replay with --seed {}",
            settings.seed
        );
    }
    Ok(Report {
        discrepancies: soak.discrepancies,
    })
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Result<(usize, Vec<PathBuf>), String> {
    let mut scanned = 0;
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            let entries =
                std::fs::read_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            pending.extend(entries.filter_map(|e| e.ok().map(|e| e.path())));
        } else {
            scanned += 1;
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path);
            }
        }
    }
    Ok((scanned, found))
}

/// The token still works (it was stored), and neither it nor the admin token nor the
/// webhook secret is written anywhere under the data directory in clear.
async fn secrets_at_rest(soak: &mut Soak, token: &str, dir: &Path) -> Result<String, String> {
    let answer = reqwest::Client::new()
        .get(format!("{}/v1/plans", soak.api.base))
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .status();
    if answer != 200 {
        soak.discrepancies.push(format!(
            "the API-made token no longer works after the kills: {answer}"
        ));
    }
    let mut files = 0;
    let mut in_clear = 0;
    for (name, secret) in [
        ("API-made token", token),
        ("admin token", crate::server::ADMIN_TOKEN),
        ("webhook secret", WEBHOOK_SECRET),
    ] {
        let (scanned, found) = files_containing(dir, secret.as_bytes())?;
        files = scanned;
        in_clear += found.len();
        for path in found {
            soak.discrepancies.push(format!(
                "the {name} is stored in clear in {}",
                path.display()
            ));
        }
    }
    Ok(format!(
        "secrets looked for in clear (API token, admin token, webhook secret) in {files} files under the data directory: {in_clear} found"
    ))
}

/// Reads back every subscription, invoice, payment and audit entry and checks them against
/// the model. Returns the figures line.
async fn reconcile(soak: &mut Soak) -> Result<String, String> {
    let api = soak.api.clone();
    let mut found = Vec::new();

    // 1. Usage: the exact distinct-event sum of what was accepted, per user.
    for user in &soak.users {
        let counted = soak.summary(user).await?;
        if counted != Soak::total(user) {
            found.push(format!(
                "usage of {}: accepted {} counted {counted}",
                user.id,
                Soak::total(user)
            ));
        }
    }

    let invoices = api.list("/v1/invoices").await?;
    let payments = api.list("/v1/payments").await?;
    let audit = api.list("/v1/audit").await?;
    let mut subscriptions = Vec::new();
    for user in &soak.users {
        subscriptions.extend(
            api.list(&format!("/v1/subscriptions?user_id={}", user.id))
                .await?,
        );
    }
    let mut actions: HashMap<(String, String), u64> = HashMap::new();
    for entry in &audit {
        if let (Some(entity), Some(action)) =
            (entry["entity_id"].as_str(), entry["action"].as_str())
        {
            *actions
                .entry((entity.to_owned(), action.to_owned()))
                .or_default() += 1;
        }
    }
    let logged = |entity: &str, action: &str| {
        actions
            .get(&(entity.to_owned(), action.to_owned()))
            .copied()
            .unwrap_or(0)
    };

    // 2. One invoice per (subscription, billing_reason, period_start); gap-free numbers;
    //    totals that add up; a 1¢ unit price, so usage amount = quantity.
    let mut keys = HashSet::new();
    let mut numbers = Vec::new();
    // user → billed usage periods (start, end, quantity) summed over usage and usage_late.
    let mut billed: HashMap<String, BTreeMap<(i64, i64), u64>> = HashMap::new();
    for invoice in &invoices {
        let id = invoice["id"].as_str().unwrap_or("?");
        let key = (
            invoice["subscription_id"].to_string(),
            invoice["billing_reason"].to_string(),
            invoice["period_start"].to_string(),
        );
        if !keys.insert(key.clone()) {
            found.push(format!("second invoice {id} for {key:?}"));
        }
        match invoice["number"]
            .as_str()
            .and_then(|n| n.strip_prefix("INV-"))
            .and_then(|n| n.parse::<u64>().ok())
        {
            Some(n) => numbers.push(n),
            None => found.push(format!(
                "invoice {id} without a number: {}",
                invoice["number"]
            )),
        }
        let lines = invoice["lines"].as_array().cloned().unwrap_or_default();
        let sum: i64 = lines
            .iter()
            .filter_map(|l| l["amount_cents"].as_i64())
            .sum();
        if Some(sum) != invoice["subtotal_cents"].as_i64() {
            found.push(format!(
                "invoice {id}: lines sum to {sum}, subtotal {}",
                invoice["subtotal_cents"]
            ));
        }
        let user = invoice["user_id"].as_str().unwrap_or("?").to_owned();
        for line in &lines {
            let kind = line["kind"].as_str().unwrap_or("");
            if kind != "usage" && kind != "usage_late" {
                continue;
            }
            let quantity = line["quantity"].as_u64().unwrap_or(0);
            if line["amount_cents"].as_i64() != i64::try_from(quantity).ok() {
                found.push(format!(
                    "invoice {id}: {kind} line of {quantity} units at 1¢ is {}¢",
                    line["amount_cents"]
                ));
            }
            if let (Some(s), Some(e)) = (parse(&line["period_start"]), parse(&line["period_end"])) {
                *billed
                    .entry(user.clone())
                    .or_default()
                    .entry((s, e))
                    .or_default() += quantity;
            }
        }
        // 3. Every state change in the audit log, exactly once.
        let expected_actions: &[&str] = match invoice["status"].as_str() {
            Some("paid") => &["invoice.finalized", "invoice.paid"],
            Some("uncollectible") => &["invoice.finalized", "invoice.uncollectible"],
            Some("void") => &["invoice.finalized", "invoice.voided"],
            _ => &["invoice.finalized"],
        };
        for action in expected_actions {
            let n = logged(id, action);
            if n != 1 {
                found.push(format!(
                    "invoice {id} ({}) has {n} `{action}` audit entries",
                    invoice["status"]
                ));
            }
        }
    }
    numbers.sort_unstable();
    let expected: Vec<u64> = (1..=u64::try_from(numbers.len()).unwrap_or(0)).collect();
    if numbers != expected {
        let missing: Vec<u64> = expected
            .iter()
            .filter(|n| !numbers.contains(n))
            .take(10)
            .copied()
            .collect();
        found.push(format!(
            "invoice numbers are not 1..={}: missing {missing:?}, highest {:?}",
            numbers.len(),
            numbers.last()
        ));
    }

    // 4. Usage billed exactly once: each billed period holds exactly the accepted events of
    //    its user in it; every event of a card that pays lies in exactly one billed period.
    for user in &soak.users {
        let periods = billed.get(&user.id).cloned().unwrap_or_default();
        for (&(start, end), &quantity) in &periods {
            let model: u64 = user
                .events
                .values()
                .filter(|(_, ts)| start <= *ts && *ts < end)
                .map(|(q, _)| q)
                .sum();
            if model != quantity {
                found.push(format!(
                    "{} ({:?}): [{}, {}) billed {quantity} units, accepted {model}",
                    user.id,
                    user.card,
                    rfc3339(start),
                    rfc3339(end)
                ));
            }
        }
        if user.card == Card::Declined {
            // Dunning cancels its subscriptions: their last period is never billed.
            continue;
        }
        let mut unbilled = 0u64;
        let mut twice = 0u64;
        for (_, ts) in user.events.values() {
            match periods.keys().filter(|(s, e)| s <= ts && ts < e).count() {
                0 => unbilled += 1,
                1 => {}
                _ => twice += 1,
            }
        }
        if unbilled + twice > 0 {
            found.push(format!(
                "{} ({:?}): {unbilled} accepted events in no billed period, {twice} in two",
                user.id, user.card
            ));
        }
    }

    // 5. At most one successful charge per invoice, and a paid invoice has exactly that one.
    let mut succeeded: HashMap<String, Vec<&Value>> = HashMap::new();
    for payment in &payments {
        let id = payment["id"].as_str().unwrap_or("?");
        let status = payment["status"].as_str().unwrap_or("?");
        let action = format!("payment.{status}");
        if logged(id, &action) != 1 {
            found.push(format!(
                "payment {id} has {} `{action}` audit entries",
                logged(id, &action)
            ));
        }
        if status == "succeeded" {
            succeeded
                .entry(payment["invoice_id"].as_str().unwrap_or("?").to_owned())
                .or_default()
                .push(payment);
        }
    }
    let by_id: HashMap<&str, &Value> = invoices
        .iter()
        .filter_map(|i| i["id"].as_str().map(|id| (id, i)))
        .collect();
    for (invoice, charges) in &succeeded {
        if charges.len() > 1 {
            found.push(format!("invoice {invoice} charged {} times", charges.len()));
        }
        match by_id.get(invoice.as_str()) {
            Some(i) if i["status"] != "paid" => {
                found.push(format!("invoice {invoice} charged but {}", i["status"]));
            }
            Some(i) if charges[0]["amount_cents"] != i["amount_due_cents"] => found.push(format!(
                "invoice {invoice} due {} charged {}",
                i["amount_due_cents"], charges[0]["amount_cents"]
            )),
            None => found.push(format!("a charge for an unknown invoice {invoice}")),
            _ => {}
        }
    }
    let cards: HashMap<&str, Card> = soak.users.iter().map(|u| (u.id.as_str(), u.card)).collect();
    for invoice in &invoices {
        let id = invoice["id"].as_str().unwrap_or("?");
        let due = invoice["amount_due_cents"].as_i64().unwrap_or(0);
        if invoice["status"] == "paid" && due > 0 && !succeeded.contains_key(id) {
            found.push(format!(
                "invoice {id} paid with {due}¢ due and no successful charge"
            ));
        }
        // 6. Nothing left due that should have been collected.
        let card = cards
            .get(invoice["user_id"].as_str().unwrap_or(""))
            .copied();
        if invoice["status"] == "open" && due > 0 && card != Some(Card::Declined) {
            found.push(format!(
                "invoice {id} of a {card:?} card still open with {due}¢ due"
            ));
        }
    }
    for subscription in &subscriptions {
        let id = subscription["id"].as_str().unwrap_or("?");
        if logged(id, "subscription.created") != 1 {
            found.push(format!(
                "subscription {id} has {} `subscription.created` entries",
                logged(id, "subscription.created")
            ));
        }
        if subscription["status"] == "canceled" && logged(id, "subscription.canceled") != 1 {
            found.push(format!(
                "canceled subscription {id} has {} `subscription.canceled` entries",
                logged(id, "subscription.canceled")
            ));
        }
        let card = cards
            .get(subscription["user_id"].as_str().unwrap_or(""))
            .copied();
        if subscription["status"] == "past_due" && card != Some(Card::Declined) {
            found.push(format!("subscription {id} of a {card:?} card is past_due"));
        }
    }
    for user in &soak.users {
        for id in &user.subscriptions {
            if !subscriptions.iter().any(|s| s["id"] == id.as_str()) {
                found.push(format!("subscription {id} of {} is gone", user.id));
            }
        }
    }
    let paid = invoices.iter().filter(|i| i["status"] == "paid").count();
    let late = invoices
        .iter()
        .filter(|i| {
            i["lines"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|l| l["kind"] == "usage_late")
        })
        .count();
    soak.discrepancies.extend(found);
    Ok(format!(
        "subscriptions={} invoices={} (paid {paid}, with usage_late lines {late}) payments={} (succeeded {}) audit entries={}",
        subscriptions.len(),
        invoices.len(),
        payments.len(),
        succeeded.values().map(Vec::len).sum::<usize>(),
        audit.len()
    ))
}
