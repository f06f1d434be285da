//! Usage: ingestion (validate, then queue durably), aggregation (exactly once, late usage of
//! closed periods kept for the next invoice) and the exact summary.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use billing_core::plan::validate_metric;
use billing_core::subscription::Subscription;
use billing_core::usage::{UsageEvent, UsageEventDraft};
use billing_core::{FieldError, Period, Timestamp};
use billing_ledger::{Change, Conflict, LateUsage, QueuedUsage, UsageClaim};
use serde::{Deserialize, Serialize};

use crate::context::App;
use crate::error::AppError;
use crate::support::{Attempt, retry_races};

/// Events one request may carry (API.md).
pub const EVENTS_PER_REQUEST_MAX: usize = 1_000;
/// Writes one aggregation transaction may hold, leaving room under DynamoDB's 100.
const WRITES_PER_CHUNK_MAX: usize = 96;

/// One message of the usage queue (SQS in AWS): the events one accepted request carried,
/// already validated. Its message id is its batch id for aggregation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageMessage {
    pub events: Vec<UsageEvent>,
}

#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct IngestUsage {
    /// 1 to 1000 events (EVENTS_PER_REQUEST_MAX).
    #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 1000))]
    pub events: Vec<UsageEventDraft>,
}

/// Validates a batch (any invalid event rejects it whole, naming `events[i].field`) and queues
/// it durably. Returns how many events were accepted.
pub async fn ingest_usage(app: &App, request: IngestUsage) -> Result<usize, AppError> {
    if request.events.is_empty() || request.events.len() > EVENTS_PER_REQUEST_MAX {
        return Err(FieldError::new(
            "events",
            "invalid_length",
            format!("must hold 1 to {EVENTS_PER_REQUEST_MAX} events"),
        )
        .into());
    }
    let now = app.clock.now().await?;
    let mut known_users: HashMap<String, bool> = HashMap::new();
    let mut pricing = PricingCache::default();
    let mut events = Vec::with_capacity(request.events.len());
    for (index, draft) in request.events.into_iter().enumerate() {
        let at = |field: &str| format!("events[{index}].{field}");
        let event = draft
            .validate(now)
            .map_err(|e| e.within(&format!("events[{index}]")))?;
        let known = match known_users.get(&event.user_id) {
            Some(known) => *known,
            None => {
                let known = app.ledger.user(&event.user_id).await?.is_some();
                known_users.insert(event.user_id.clone(), known);
                known
            }
        };
        if !known {
            return Err(FieldError::new(
                at("user_id"),
                "unknown_user",
                format!("no user {}", event.user_id),
            )
            .into());
        }
        if let Some(subscription) = pricing.get(app, &event.user_id, &event.metric).await?
            && !subscription.accepts_usage_at(event.timestamp)
        {
            return Err(FieldError::new(
                at("timestamp"),
                "period_closed",
                format!(
                    "is before the current period of subscription {}, which started {}",
                    subscription.id,
                    subscription.current_period_start.to_rfc3339()
                ),
            )
            .into());
        }
        events.push(event);
    }
    let accepted = events.len();
    app.usage_queue.enqueue(events).await?;
    app.metrics
        .usage_ingested(u64::try_from(accepted).unwrap_or(0));
    Ok(accepted)
}

/// The live subscription pricing each (user, metric), read once per request or batch.
#[derive(Default)]
struct PricingCache(HashMap<(String, String), Option<Subscription>>);

impl PricingCache {
    async fn get(
        &mut self,
        app: &App,
        user_id: &str,
        metric: &str,
    ) -> Result<Option<&Subscription>, AppError> {
        let key = (user_id.to_owned(), metric.to_owned());
        if !self.0.contains_key(&key) {
            let subscription = match app.ledger.subscription_pricing(user_id, metric).await? {
                Some(id) => app.ledger.subscription(&id).await?.map(|s| s.value),
                None => None,
            };
            self.0.insert(key.clone(), subscription);
        }
        Ok(self.0.get(&key).and_then(Option::as_ref))
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AggregationReport {
    pub counted: u64,
    pub duplicates: u64,
    pub late: u64,
}

/// Where one counted event goes: into the per-second sums always (the summary is every
/// event), and for billing either the open period (checked unsealed) or a closed period's
/// late usage, or nowhere (no subscription prices it, or it fell in a trial).
#[derive(Clone)]
enum Billing {
    OnTime {
        subscription_id: String,
        period_start: Timestamp,
    },
    /// Late usage, and when the invoice run should bill it.
    Late(LateUsage, Timestamp),
    NotBilled,
}

/// Which subscription bills `event`. The one pricing its metric now, if its current period
/// holds the event (on time) or one of its sealed periods does (late). Otherwise the one that
/// priced the metric at the event's time and has stopped since — canceled, or moved to a plan
/// without the metric — whose sealed period makes the event late usage: accepted usage is
/// never dropped because its subscription changed before it was aggregated.
async fn billing_of(
    app: &App,
    event: &UsageEvent,
    subscriptions: &mut PricingCache,
    now: Timestamp,
) -> Result<Billing, AppError> {
    if let Some(subscription) = subscriptions
        .get(app, &event.user_id, &event.metric)
        .await?
    {
        if subscription.accepts_usage_at(event.timestamp) {
            return Ok(Billing::OnTime {
                subscription_id: subscription.id.clone(),
                period_start: subscription.current_period_start,
            });
        }
        let subscription = subscription.clone();
        if let Some(late) = late_billing(app, &subscription, event, now).await? {
            return Ok(late);
        }
    }
    let Some(id) = app
        .ledger
        .subscription_that_priced(&event.user_id, &event.metric, event.timestamp)
        .await?
    else {
        return Ok(Billing::NotBilled);
    };
    match app.ledger.subscription(&id).await? {
        Some(read) => Ok(late_billing(app, &read.value, event, now)
            .await?
            .unwrap_or(Billing::NotBilled)),
        None => Ok(Billing::NotBilled),
    }
}

/// `event` as late usage of `subscription`'s billed period that holds it, if one does: due at
/// the subscription's next renewal while it lives, at once when it has ended.
async fn late_billing(
    app: &App,
    subscription: &Subscription,
    event: &UsageEvent,
    now: Timestamp,
) -> Result<Option<Billing>, AppError> {
    let seal = app
        .ledger
        .sealed_period_at(&subscription.id, event.timestamp)
        .await?;
    let Some(seal) = seal.filter(|seal| seal.billed) else {
        return Ok(None);
    };
    let due_at = if subscription.is_live() {
        subscription.current_period_end
    } else {
        now
    };
    Ok(Some(Billing::Late(
        LateUsage {
            subscription_id: subscription.id.clone(),
            period_start: seal.period_start,
            period_end: seal.period_end,
            plan_code: seal.plan_code,
            metric: event.metric.clone(),
            quantity: event.quantity,
        },
        due_at,
    )))
}

/// Aggregates one queued batch exactly once: a pass of one message ([`aggregate_pass`]).
pub async fn aggregate_batch(
    app: &App,
    batch: &QueuedUsage,
) -> Result<AggregationReport, AppError> {
    aggregate_pass(app, std::slice::from_ref(batch)).await
}

/// One message of a pass: its events this pass counts (claimed by it) and its duplicates.
struct PassMessage<'a> {
    batch: &'a QueuedUsage,
    counted: Vec<&'a UsageEvent>,
    duplicates: u64,
}

/// Aggregates many queued messages exactly once in one pass: claims every event (one
/// conditional write each, by its own message's id), then adds the counted ones in chunks
/// that each fit one transaction. A chunk holds whole messages and, in the same transaction
/// as their per-second sums, late usage, period checks and day counters (each written once
/// per chunk, whatever the number of messages), one marker per message it applies
/// (`{message id}#0`). A message too large for a chunk of its own is split over chunks of its
/// own (`{message id}#n`), as a pass of one message always did.
///
/// Rerunning any message, in any pass with any neighbours (a crash, a redelivery), finds its
/// claims (`OursAgain`) and its marker and adds nothing twice: a chunk whose commit meets an
/// existing marker is retried with the markers read first, and a message already marked is
/// replayed alone, where each of its chunks finds its marker. A period sealed by the invoice
/// run meanwhile turns its usage late on the retry.
pub async fn aggregate_pass(
    app: &App,
    batches: &[QueuedUsage],
) -> Result<AggregationReport, AppError> {
    let mut read_markers = false;
    retry_races(|| {
        let check = read_markers;
        read_markers = true;
        async move { pass_once(app, batches, check).await }
    })
    .await
}

async fn pass_once(
    app: &App,
    batches: &[QueuedUsage],
    read_markers: bool,
) -> Result<AggregationReport, Attempt> {
    let mut report = AggregationReport::default();
    // A message twice in one pass (SQS may deliver a message twice): the later copy is a
    // redelivery of the first, its events duplicates.
    let mut ids = HashSet::with_capacity(batches.len());
    let mut repeated = 0;
    let distinct: Vec<QueuedUsage> = batches
        .iter()
        .filter(|batch| {
            let first = ids.insert(batch.batch_id.as_str());
            if !first {
                repeated += batch.events.len() as u64;
            }
            first
        })
        .cloned()
        .collect();
    report.duplicates += repeated;
    let mut messages = claim_pass(app, &distinct).await?;
    for message in &messages {
        report.duplicates += message.duplicates;
    }
    let now = app.clock.now().await?;
    let mut subscriptions = PricingCache::default();
    let mut chunk = Chunk::default();
    let mut ready = Vec::new();
    for message in &mut messages {
        if message.counted.is_empty() {
            continue;
        }
        let batch_id = &message.batch.batch_id;
        let mut billed = Vec::with_capacity(message.counted.len());
        for event in &message.counted {
            billed.push((
                *event,
                billing_of(app, event, &mut subscriptions, now).await?,
            ));
        }
        // Only after a lost race (or an earlier run) can a marker exist: the first run of a
        // pass reads none, its commit's conditions find any.
        let marked = read_markers
            && app
                .ledger
                .usage_batch_applied(&format!("{batch_id}#0"))
                .await
                .map_err(AppError::from)?;
        if !marked {
            let mut joined = chunk.clone();
            if joined.add_message(batch_id, &billed) {
                chunk = joined;
                continue;
            }
            let mut alone = Chunk::default();
            if alone.add_message(batch_id, &billed) {
                ready.push(std::mem::replace(&mut chunk, alone));
                continue;
            }
        }
        // Too large for a chunk, or applied before (maybe split): alone, chunk by chunk.
        ready.extend(split(batch_id, billed));
    }
    ready.push(chunk);
    apply_chunks(app, ready, &mut report).await?;
    Ok(report)
}

/// Claims every event of `batches` for its own message, in pass order: the first copy of an
/// event in the pass is claimed first, so the first accepted copy is the one that counts. The
/// first copies of distinct events are claimed concurrently (they touch distinct items), each
/// further copy in a later round.
async fn claim_pass<'a>(
    app: &App,
    batches: &'a [QueuedUsage],
) -> Result<Vec<PassMessage<'a>>, Attempt> {
    let mut messages: Vec<PassMessage<'a>> = batches
        .iter()
        .map(|batch| PassMessage {
            batch,
            counted: Vec::with_capacity(batch.events.len()),
            duplicates: 0,
        })
        .collect();
    // (message, event) to claim, per round: round r holds the (r+1)-th copy in the pass.
    let mut rounds: Vec<Vec<(usize, &'a UsageEvent)>> = Vec::new();
    let mut copies: HashMap<(&'a str, &'a str), usize> = HashMap::new();
    for (m, batch) in batches.iter().enumerate() {
        // A producer may put the same event twice in one request: the second copy finds the
        // batch's own claim, which is indistinguishable from a redelivery, so it is dropped
        // here before claiming.
        let mut seen = HashSet::with_capacity(batch.events.len());
        for event in &batch.events {
            let key = (event.user_id.as_str(), event.id.as_str());
            if !seen.insert(key) {
                messages[m].duplicates += 1;
                continue;
            }
            let copy = copies.entry(key).or_insert(0);
            if rounds.len() <= *copy {
                rounds.push(Vec::new());
            }
            rounds[*copy].push((m, event));
            *copy += 1;
        }
    }
    for round in rounds {
        let mut claims = Vec::with_capacity(round.len());
        for window in round.chunks(app.usage_claims_in_flight.max(1)) {
            let mut in_flight = tokio::task::JoinSet::new();
            for (slot, (m, event)) in window.iter().enumerate() {
                let ledger = app.ledger.clone();
                let event = (*event).clone();
                let batch_id = batches[*m].batch_id.clone();
                in_flight.spawn(async move {
                    (slot, ledger.claim_usage_event(&event, &batch_id).await)
                });
            }
            let mut outcomes = vec![None; window.len()];
            while let Some(joined) = in_flight.join_next().await {
                let (slot, outcome) =
                    joined.map_err(|e| AppError::internal("a usage claim task stopped", e))?;
                outcomes[slot] = Some(outcome.map_err(AppError::from)?);
            }
            claims.extend(window.iter().zip(outcomes));
        }
        for ((m, event), claim) in claims {
            match claim {
                Some(UsageClaim::Duplicate) => messages[*m].duplicates += 1,
                Some(UsageClaim::New | UsageClaim::OursAgain) => messages[*m].counted.push(event),
                None => {
                    return Err(AppError::bug("a usage claim had no outcome").into());
                }
            }
        }
    }
    // Each message's events in its own order, whatever round claimed them.
    for (message, batch) in messages.iter_mut().zip(batches) {
        if message.counted.len() > 1 {
            let order: HashMap<*const UsageEvent, usize> = batch
                .events
                .iter()
                .enumerate()
                .map(|(i, e)| (std::ptr::from_ref(e), i))
                .collect();
            message
                .counted
                .sort_by_key(|e| order.get(&std::ptr::from_ref(*e)).copied());
        }
    }
    Ok(messages)
}

/// A message that does not fit a chunk of its own, or was applied before: its events in
/// chunks of its own, `{batch_id}#0`, `#1`, …, each finding its marker if applied before.
fn split(batch_id: &str, billed: Vec<(&UsageEvent, Billing)>) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut chunk = Chunk::default();
    for (event, billing) in billed {
        if !chunk.fits(event, &billing) {
            chunk.markers.push(format!("{batch_id}#{}", chunks.len()));
            chunks.push(std::mem::take(&mut chunk));
        }
        chunk.add(event, billing);
    }
    chunk.markers.push(format!("{batch_id}#{}", chunks.len()));
    chunks.push(chunk);
    chunks
}

/// Times a chunk meeting another transaction is sent again before its pass retries.
const CHUNK_CONFLICT_RETRIES: u32 = 8;

/// Commits a pass's chunks, several at once. Each is applied or not on its own; the first
/// failure is returned once every chunk in flight has finished.
async fn apply_chunks(
    app: &App,
    chunks: Vec<Chunk>,
    report: &mut AggregationReport,
) -> Result<(), Attempt> {
    let mut in_flight = tokio::task::JoinSet::new();
    let mut first_failure = None;
    let mut chunks = chunks.into_iter().filter(|chunk| chunk.events > 0);
    loop {
        while in_flight.len() < app.usage_chunks_in_flight.max(1) {
            let Some(chunk) = chunks.next() else { break };
            let app = app.clone();
            in_flight.spawn(async move {
                let mut applied = AggregationReport::default();
                chunk.apply(&app, &mut applied).await.map(|()| applied)
            });
        }
        let Some(joined) = in_flight.join_next().await else {
            break;
        };
        match joined {
            Ok(Ok(applied)) => {
                report.counted += applied.counted;
                report.late += applied.late;
            }
            Ok(Err(attempt)) => {
                first_failure.get_or_insert(attempt);
            }
            Err(stopped) => {
                first_failure.get_or_insert(Attempt::Fail(AppError::internal(
                    "an aggregation chunk task stopped",
                    stopped,
                )));
            }
        }
    }
    first_failure.map_or(Ok(()), Err)
}

#[derive(Default, Clone)]
struct Chunk {
    per_second: BTreeMap<(String, String, Timestamp), u64>,
    late: BTreeMap<(String, Timestamp, String), (LateUsage, Timestamp)>,
    open_periods: BTreeSet<(String, Timestamp)>,
    /// The usage-per-day counter items the per-second sums add to, as `(pk, sk)`.
    day_counters: BTreeSet<(String, String)>,
    /// The marker of each message (or message part) this chunk applies.
    markers: Vec<String>,
    events: u64,
    late_events: u64,
}

/// The usage-per-day counter item an event adds to (one more write when new to a chunk).
fn day_counter(event: &UsageEvent) -> (String, String) {
    let key = billing_ledger::dashboard::usage_counter_key(
        &event.user_id,
        &event.metric,
        event.timestamp,
    );
    (key.pk, key.sk)
}

impl Chunk {
    fn writes(&self) -> usize {
        self.per_second.len()
            + self.late.len()
            + 2 * self.open_periods.len()
            + self.day_counters.len()
            + self.markers.len().max(1)
    }

    /// Adds a whole message with its marker; false (the chunk then must be dropped) when the
    /// transaction would outgrow its limit.
    fn add_message(&mut self, batch_id: &str, billed: &[(&UsageEvent, Billing)]) -> bool {
        self.markers.push(format!("{batch_id}#0"));
        for (event, billing) in billed {
            self.add(event, billing.clone());
            if self.writes() > WRITES_PER_CHUNK_MAX {
                return false;
            }
        }
        self.writes() <= WRITES_PER_CHUNK_MAX
    }

    /// Whether `event` can join without the transaction outgrowing its limit.
    fn fits(&self, event: &UsageEvent, billing: &Billing) -> bool {
        let mut extra = usize::from(!self.per_second.contains_key(&(
            event.user_id.clone(),
            event.metric.clone(),
            event.timestamp,
        )));
        extra += usize::from(!self.day_counters.contains(&day_counter(event)));
        extra += match billing {
            Billing::OnTime {
                subscription_id,
                period_start,
            } => {
                2 * usize::from(
                    !self
                        .open_periods
                        .contains(&(subscription_id.clone(), *period_start)),
                )
            }
            Billing::Late(late, _) => usize::from(!self.late.contains_key(&(
                late.subscription_id.clone(),
                late.period_start,
                late.metric.clone(),
            ))),
            Billing::NotBilled => 0,
        };
        self.writes() + extra <= WRITES_PER_CHUNK_MAX
    }

    fn add(&mut self, event: &UsageEvent, billing: Billing) {
        self.events += 1;
        self.day_counters.insert(day_counter(event));
        *self
            .per_second
            .entry((event.user_id.clone(), event.metric.clone(), event.timestamp))
            .or_default() += event.quantity;
        match billing {
            Billing::OnTime {
                subscription_id,
                period_start,
            } => {
                self.open_periods.insert((subscription_id, period_start));
            }
            Billing::Late(late, due_at) => {
                self.late_events += 1;
                self.late
                    .entry((
                        late.subscription_id.clone(),
                        late.period_start,
                        late.metric.clone(),
                    ))
                    .and_modify(|(l, _)| l.quantity += late.quantity)
                    .or_insert((late, due_at));
            }
            Billing::NotBilled => {}
        }
    }

    /// The chunk's transaction: sums, late usage, period checks, then its markers.
    fn change(&self, now: Timestamp) -> Result<Change, Attempt> {
        let mut change = Change::new();
        for ((user, metric, second), quantity) in &self.per_second {
            change.add_usage(user, metric, *second, *quantity);
        }
        for (late, due_at) in self.late.values() {
            change.add_late_usage(late, *due_at);
        }
        for (subscription_id, period_start) in &self.open_periods {
            change.require_period_open(subscription_id, *period_start);
        }
        for marker in &self.markers {
            change.mark_usage_batch_applied(marker, now)?;
        }
        Ok(change)
    }

    async fn apply(&self, app: &App, report: &mut AggregationReport) -> Result<(), Attempt> {
        if self.events == 0 {
            return Ok(());
        }
        let now = app.clock.now().await?;
        // Chunks of concurrent passes add to the same sums and period versions: a DynamoDB
        // transaction that met another one wrote nothing and is sent again as it is.
        let mut outcome = app.ledger.commit(self.change(now)?).await;
        for lost in 0..CHUNK_CONFLICT_RETRIES {
            if !outcome
                .as_ref()
                .is_err_and(billing_ledger::LedgerError::met_another_transaction)
            {
                break;
            }
            let ceiling = 1_u64 << lost.min(6);
            let pause = rand::Rng::random_range(&mut rand::rng(), 1..=ceiling);
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            outcome = app.ledger.commit(self.change(now)?).await;
        }
        match outcome {
            Ok(()) => {
                report.counted += self.events;
                report.late += self.late_events;
                Ok(())
            }
            // One message (part) applied by an earlier run: nothing to add.
            Err(error)
                if self.markers.len() == 1
                    && error.conflicts() == [Conflict::UsageBatchApplied] =>
            {
                report.counted += self.events;
                report.late += self.late_events;
                Ok(())
            }
            // Some message of the chunk was applied meanwhile (another runner, or an earlier
            // run of it): retry, reading the markers, so it is replayed alone.
            Err(error) if error.has_conflict(|c| *c == Conflict::UsageBatchApplied) => {
                Err(Attempt::Race)
            }
            // The invoice run sealed a period meanwhile: retry, and its usage is late.
            Err(error) if error.has_conflict(|c| *c == Conflict::UsagePeriodSealed) => {
                Err(Attempt::Race)
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// Messages one local read takes from the durable queue, and events one pass aggregates.
const MESSAGES_PER_PASS_MAX: usize = 1_000;
const EVENTS_PER_PASS_MAX: usize = 20_000;

/// Aggregates every batch waiting in the durable queue, in arrival order, many per pass; a
/// pass's messages leave the queue once it has applied them all.
pub async fn drain_usage_queue(app: &App) -> Result<AggregationReport, AppError> {
    let mut total = AggregationReport::default();
    loop {
        let batches = app.ledger.queued_usage(MESSAGES_PER_PASS_MAX).await?;
        if batches.is_empty() {
            return Ok(total);
        }
        let mut rest = batches.as_slice();
        while !rest.is_empty() {
            // Whole messages up to EVENTS_PER_PASS_MAX events (at least one message).
            let mut take = 0;
            let mut events = 0;
            while take < rest.len()
                && (take == 0 || events + rest[take].events.len() <= EVENTS_PER_PASS_MAX)
            {
                events += rest[take].events.len();
                take += 1;
            }
            let (pass, after) = rest.split_at(take);
            rest = after;
            let report = aggregate_pass(app, pass).await?;
            app.metrics
                .usage_aggregated(report.counted, report.duplicates, report.late);
            total.counted += report.counted;
            total.duplicates += report.duplicates;
            total.late += report.late;
            let mut dequeues = tokio::task::JoinSet::new();
            for batch in pass {
                let ledger = app.ledger.clone();
                let batch = batch.clone();
                dequeues.spawn(async move { ledger.dequeue_usage(&batch).await });
            }
            while let Some(done) = dequeues.join_next().await {
                done.map_err(|e| AppError::internal("a dequeue task stopped", e))??;
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageSummary {
    pub user_id: String,
    pub metric: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub from: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub to: Timestamp,
    pub quantity: u64,
}

/// The exact distinct-event usage of `metric` by `user_id` in `[from, to)` aggregated so far.
pub async fn usage_summary(
    app: &App,
    user_id: &str,
    metric: &str,
    from: Timestamp,
    to: Timestamp,
) -> Result<UsageSummary, AppError> {
    validate_metric(metric, "metric")?;
    if to < from {
        return Err(FieldError::new("to", "invalid_range", "must not be before from").into());
    }
    require_user(app, user_id).await?;
    let period = Period::new(from, to);
    let quantity = app
        .ledger
        .usage_sum(user_id, metric, period.start, period.end)
        .await?;
    Ok(UsageSummary {
        user_id: user_id.to_owned(),
        metric: metric.to_owned(),
        from,
        to,
        quantity,
    })
}

/// The user usage is asked about must exist (400 `unknown_user`, as for ingestion).
async fn require_user(app: &App, user_id: &str) -> Result<(), AppError> {
    if app.ledger.user(user_id).await?.is_none() {
        return Err(AppError::Missing {
            entity: "user",
            id: user_id.to_owned(),
            param: "user_id",
            code: "unknown_user",
        });
    }
    Ok(())
}

/// Most buckets one series may have.
pub const SERIES_BUCKETS_MAX: i64 = 1_000;

/// The width of a series' buckets, aligned to UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Hour,
    #[default]
    Day,
}

impl Bucket {
    fn seconds(self) -> i64 {
        match self {
            Self::Hour => 3_600,
            Self::Day => 86_400,
        }
    }

    /// The start of the bucket holding `at` (UTC days and hours have no leap seconds here).
    fn start_of(self, at: Timestamp) -> Timestamp {
        let width = self.seconds();
        let seconds = at.timestamp().div_euclid(width) * width;
        Timestamp::from_timestamp(seconds, 0).unwrap_or(at)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SeriesPoint {
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub start: Timestamp,
    pub quantity: i64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UsageSeries {
    pub user_id: String,
    pub metric: String,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub from: Timestamp,
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub to: Timestamp,
    pub bucket: Bucket,
    /// Every bucket from `from` (truncated to the bucket) to `to`, oldest first, zero-filled.
    pub points: Vec<SeriesPoint>,
}

/// The usage of `metric` by `user_id` in `[from, to)` per bucket: each point the exact
/// distinct-event sum aggregated so far in `[start, start + bucket) ∩ [from, to)`. One query
/// of the per-second sums, folded into the buckets.
pub async fn usage_series(
    app: &App,
    user_id: &str,
    metric: &str,
    from: Timestamp,
    to: Timestamp,
    bucket: Bucket,
) -> Result<UsageSeries, AppError> {
    validate_metric(metric, "metric")?;
    if to <= from {
        return Err(FieldError::new("to", "invalid_range", "must be after from").into());
    }
    let first = bucket.start_of(from);
    let width = bucket.seconds();
    let seconds = (to - first).num_seconds();
    let buckets = seconds / width + i64::from(seconds % width != 0);
    if buckets > SERIES_BUCKETS_MAX {
        return Err(FieldError::new(
            "to",
            "invalid_range",
            format!("the range holds {buckets} buckets, at most {SERIES_BUCKETS_MAX} are allowed"),
        )
        .into());
    }
    require_user(app, user_id).await?;
    let mut points: Vec<SeriesPoint> = (0..buckets)
        .map(|i| SeriesPoint {
            start: first + chrono::Duration::seconds(i * width),
            quantity: 0,
        })
        .collect();
    for (second, quantity) in app.ledger.usage_seconds(user_id, metric, from, to).await? {
        let index = (second - first).num_seconds().div_euclid(width);
        if let Some(point) = usize::try_from(index).ok().and_then(|i| points.get_mut(i)) {
            let quantity = i64::try_from(quantity).unwrap_or(i64::MAX);
            point.quantity = point.quantity.saturating_add(quantity);
        }
    }
    Ok(UsageSeries {
        user_id: user_id.to_owned(),
        metric: metric.to_owned(),
        from,
        to,
        bucket,
        points,
    })
}
