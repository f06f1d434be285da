//! Load without loss: many connections of `POST /v1/usage` at once for a fixed time, the
//! process SIGKILLed once in the middle and started again. Every event answered 202 must be
//! counted exactly once by `/v1/usage/summary`; no 5xx may come before the kill (or after it).
//! A batch whose answer the kill swallowed is resent after the restart until it is answered:
//! its events either were stored (the resend is a duplicate) or are stored now.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::client::{Api, Stats};
use crate::kill::METRIC;
use crate::server::{ADMIN_TOKEN, Server};
use crate::time::{START, rfc3339};

const USERS: usize = 50;

pub struct Settings {
    pub seed: u64,
    pub seconds: u64,
    pub connections: usize,
    /// Each connection's pause between requests: keeps 200 connections open at once while
    /// bounding how many events the aggregator must then catch up on (the short version).
    pub pause: Duration,
}

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    accepted_batches: AtomicU64,
    lost_answers: AtomicU64,
    server_errors_before_kill: AtomicU64,
    server_errors_after_kill: AtomicU64,
    other: AtomicU64,
}

/// One connection's traffic until `until`; returns the events it got a 202 for (by user).
#[allow(clippy::too_many_arguments)] // each task's own copies of the run's shared handles
async fn worker(
    http: reqwest::Client,
    base: String,
    users: Arc<Vec<String>>,
    worker: usize,
    seed: u64,
    pause: Duration,
    until: Instant,
    killed: Arc<AtomicBool>,
    tally: Arc<Tally>,
    samples: Arc<std::sync::Mutex<Vec<String>>>,
) -> HashMap<String, HashMap<String, u64>> {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(worker as u64));
    let mut accepted: HashMap<String, HashMap<String, u64>> = HashMap::new();
    let mut unanswered: Vec<Value> = Vec::new();
    let mut previous: Option<Value> = None;
    let mut n = 0u64;
    let send = |batch: Value| {
        let request = http
            .post(format!("{base}/v1/usage"))
            .bearer_auth(ADMIN_TOKEN)
            .header("content-type", "application/json")
            .body(batch.to_string());
        async move {
            let answer = request.send().await;
            match answer {
                Ok(r) => {
                    let status = r.status().as_u16();
                    let text = r.text().await.unwrap_or_default();
                    Some((status, text))
                }
                Err(_) => None,
            }
        }
    };
    let record = |accepted: &mut HashMap<String, HashMap<String, u64>>, batch: &Value| {
        for e in batch["events"].as_array().into_iter().flatten() {
            if let (Some(u), Some(id), Some(q)) = (
                e["user_id"].as_str(),
                e["id"].as_str(),
                e["quantity"].as_u64(),
            ) {
                accepted
                    .entry(u.to_owned())
                    .or_default()
                    .entry(id.to_owned())
                    .or_insert(q);
            }
        }
    };
    while Instant::now() < until {
        // A resend of the previous batch now and then: all duplicates.
        let batch = match previous.take() {
            Some(p) if rng.random_bool(0.05) => p,
            _ => {
                n += 1;
                // Small batches: the point is many requests at once, and every accepted
                // event must then be aggregated before the check (a debug build aggregates a
                // few hundred events a second on 2 cores).
                let events: Vec<Value> = (0..rng.random_range(1..=3))
                    .map(|j| {
                        let user = &users[rng.random_range(0..users.len())];
                        json!({"id": format!("w{worker}-{n}-{j}"), "user_id": user, "metric": METRIC,
                            "quantity": rng.random_range(1..=100u64),
                            "timestamp": rfc3339(START + 60 + rng.random_range(0..3000))})
                    })
                    .collect();
                json!({ "events": events })
            }
        };
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
        }
        tally.requests.fetch_add(1, Ordering::Relaxed);
        match send(batch.clone()).await {
            Some((202, _)) => {
                tally.accepted_batches.fetch_add(1, Ordering::Relaxed);
                record(&mut accepted, &batch);
                previous = Some(batch);
            }
            None => {
                tally.lost_answers.fetch_add(1, Ordering::Relaxed);
                unanswered.push(batch);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Some((status, text)) => {
                let counter = if status < 500 {
                    &tally.other
                } else if killed.load(Ordering::Relaxed) {
                    &tally.server_errors_after_kill
                } else {
                    &tally.server_errors_before_kill
                };
                counter.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut s) = samples.lock()
                    && s.len() < 10
                {
                    s.push(format!("{status} {text}"));
                }
                unanswered.push(batch);
            }
        }
    }
    // After the restart: every batch without a 202 is sent until it gets one.
    let deadline = Instant::now() + Duration::from_secs(60);
    while let Some(batch) = unanswered.pop() {
        loop {
            tally.requests.fetch_add(1, Ordering::Relaxed);
            match send(batch.clone()).await {
                Some((202, _)) => {
                    record(&mut accepted, &batch);
                    break;
                }
                _ if Instant::now() > deadline => return accepted,
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }
    accepted
}

pub async fn run(
    mut server: Server,
    settings: Settings,
    label: &str,
) -> Result<Vec<String>, String> {
    server.start().await?;
    let api = Api::new(server.base.clone(), Arc::new(Stats::default()));
    api.post_repeatable(
        "/v1/test-clock",
        &json!({"now": rfc3339(START)}),
        "load-clock",
    )
    .await?;
    let plan = json!({"code": "load", "name": "load", "amount_cents": 0, "interval": "month",
        "usage_charges": [{"metric": METRIC, "mode": "volume", "tiers": [{"up_to": null, "unit_amount_decimal": "1"}]}]});
    api.post_repeatable("/v1/plans", &plan, "load-plan").await?;
    let mut users = Vec::new();
    for i in 0..USERS {
        let (status, user) = api
            .post_repeatable(
                "/v1/users",
                &json!({"email": format!("load-{}-{i}@example.com", settings.seed), "payment_method": "pm_card_ok"}),
                &format!("load-user-{i}"),
            )
            .await?;
        if status != 201 {
            return Err(format!("creating a user: {status} {user}"));
        }
        let id = user["id"].as_str().unwrap_or_default().to_owned();
        api.post_repeatable(
            "/v1/subscriptions",
            &json!({"user_id": id, "plan_code": "load"}),
            &format!("load-sub-{i}"),
        )
        .await?;
        users.push(id);
    }
    api.post_repeatable(
        "/v1/test-clock",
        &json!({"now": rfc3339(START + 3600)}),
        "load-clock-2",
    )
    .await?;

    let users = Arc::new(users);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(settings.connections)
        .build()
        .map_err(|e| e.to_string())?;
    let tally = Arc::new(Tally::default());
    let killed = Arc::new(AtomicBool::new(false));
    let samples = Arc::new(std::sync::Mutex::new(Vec::new()));
    let started = Instant::now();
    let until = started + Duration::from_secs(settings.seconds);
    let mut workers = tokio::task::JoinSet::new();
    for w in 0..settings.connections {
        workers.spawn(worker(
            http.clone(),
            server.base.clone(),
            users.clone(),
            w,
            settings.seed,
            settings.pause,
            until,
            killed.clone(),
            tally.clone(),
            samples.clone(),
        ));
    }
    // The kill: at a seeded moment in the middle half of the run.
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let at = settings.seconds * 1000 / 4 + rng.random_range(0..=settings.seconds * 1000 / 2);
    tokio::time::sleep(Duration::from_millis(at)).await;
    let before_kill = tally.requests.load(Ordering::Relaxed);
    killed.store(true, Ordering::Relaxed);
    server.kill();
    let down = Instant::now();
    server.start().await?;
    let restart = down.elapsed();

    let mut accepted: HashMap<String, HashMap<String, u64>> = HashMap::new();
    while let Some(joined) = workers.join_next().await {
        for (user, events) in joined.map_err(|e| e.to_string())? {
            let mine = accepted.entry(user).or_default();
            for (id, q) in events {
                mine.entry(id).or_insert(q);
            }
        }
    }
    let traffic = started.elapsed();

    // Aggregation catches up; then each user's exact sum must be the model's.
    let mut discrepancies = Vec::new();
    // The aggregator is given time while it makes progress: it gives up only after 30 s
    // without any user's count moving.
    let mut progress = Instant::now();
    let mut events = 0usize;
    for user in users.iter() {
        let expected: u64 = accepted.get(user).map_or(0, |e| e.values().sum());
        events += accepted.get(user).map_or(0, HashMap::len);
        let path = format!(
            "/v1/usage/summary?user_id={user}&metric={METRIC}&from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"
        );
        let mut counted = api.get(&path).await?["quantity"].as_u64().unwrap_or(0);
        while counted < expected && progress.elapsed() < Duration::from_secs(30) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = api.get(&path).await?["quantity"].as_u64().unwrap_or(0);
            if now != counted {
                progress = Instant::now();
            }
            counted = now;
        }
        if counted != expected {
            discrepancies.push(format!(
                "{user}: accepted {expected} units, counted {counted}"
            ));
        }
    }
    let before = tally.server_errors_before_kill.load(Ordering::Relaxed);
    let after = tally.server_errors_after_kill.load(Ordering::Relaxed);
    let other = tally.other.load(Ordering::Relaxed);
    if before > 0 {
        discrepancies.push(format!("{before} answers 5xx before the kill"));
    }
    if after > 0 {
        discrepancies.push(format!("{after} answers 5xx after the restart"));
    }
    if other > 0 {
        discrepancies.push(format!("{other} answers neither 202 nor 5xx"));
    }
    for sample in samples.lock().map(|s| s.clone()).unwrap_or_default() {
        discrepancies.push(format!("sample answer: {sample}"));
    }
    println!(
        "soak load [{label}] seed={} seconds={} connections={} pause between requests={:?}",
        settings.seed, settings.seconds, settings.connections, settings.pause
    );
    println!(
        "  requests={} ({} before the kill at {:.1} s, restart took {:.1} s) batches accepted={} answers lost to the kill={} traffic {:.1} s",
        tally.requests.load(Ordering::Relaxed),
        before_kill,
        Duration::from_millis(at).as_secs_f64(),
        restart.as_secs_f64(),
        tally.accepted_batches.load(Ordering::Relaxed),
        tally.lost_answers.load(Ordering::Relaxed),
        traffic.as_secs_f64()
    );
    println!(
        "  events accepted={events} users={USERS} 5xx before kill={before} after={after} other={other} kills survived=1 discrepancies={}",
        discrepancies.len()
    );
    for d in discrepancies.iter().take(40) {
        println!("    {d}");
    }
    if !discrepancies.is_empty() {
        println!(
            "  billing-local's log: {}; replay with --seed {}",
            server.log_path().display(),
            settings.seed
        );
    }
    Ok(discrepancies)
}
