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
enum Billing {
    OnTime {
        subscription_id: String,
        period_start: Timestamp,
    },
    Late(LateUsage),
    NotBilled,
}

async fn billing_of(
    app: &App,
    event: &UsageEvent,
    subscriptions: &mut PricingCache,
) -> Result<Billing, AppError> {
    let Some(subscription) = subscriptions
        .get(app, &event.user_id, &event.metric)
        .await?
    else {
        return Ok(Billing::NotBilled);
    };
    if subscription.accepts_usage_at(event.timestamp) {
        return Ok(Billing::OnTime {
            subscription_id: subscription.id.clone(),
            period_start: subscription.current_period_start,
        });
    }
    match app
        .ledger
        .sealed_period_at(&subscription.id, event.timestamp)
        .await?
    {
        Some(seal) if seal.billed => Ok(Billing::Late(LateUsage {
            subscription_id: subscription.id.clone(),
            period_start: seal.period_start,
            period_end: seal.period_end,
            plan_code: seal.plan_code,
            metric: event.metric.clone(),
            quantity: event.quantity,
        })),
        _ => Ok(Billing::NotBilled),
    }
}

/// Aggregates one queued batch exactly once: claims its events, then adds the counted ones in
/// chunks that each fit one transaction with their own marker. Rerunning a batch (a crash, a
/// redelivery) finds its claims and markers and adds nothing twice; a period sealed by the
/// invoice run meanwhile turns its usage late on the retry.
pub async fn aggregate_batch(
    app: &App,
    batch: &QueuedUsage,
) -> Result<AggregationReport, AppError> {
    retry_races(|| async {
        let mut report = AggregationReport::default();
        let mut counted = Vec::with_capacity(batch.events.len());
        // A producer may put the same event twice in one request: the second copy finds the
        // batch's own claim, which is indistinguishable from a redelivery, so it is dropped
        // here before claiming.
        let mut seen = HashSet::with_capacity(batch.events.len());
        for event in &batch.events {
            if !seen.insert((event.user_id.as_str(), event.id.as_str())) {
                report.duplicates += 1;
                continue;
            }
            match app
                .ledger
                .claim_usage_event(event, &batch.batch_id)
                .await
                .map_err(AppError::from)?
            {
                UsageClaim::Duplicate => report.duplicates += 1,
                UsageClaim::New | UsageClaim::OursAgain => counted.push(event),
            }
        }
        let mut subscriptions = PricingCache::default();
        let mut chunk = Chunk::default();
        let mut chunk_number = 0;
        for event in counted {
            let billing = billing_of(app, event, &mut subscriptions).await?;
            if !chunk.fits(event, &billing) {
                chunk
                    .apply(app, &batch.batch_id, chunk_number, &mut report)
                    .await?;
                chunk = Chunk::default();
                chunk_number += 1;
            }
            chunk.add(event, billing);
        }
        chunk
            .apply(app, &batch.batch_id, chunk_number, &mut report)
            .await?;
        Ok(report)
    })
    .await
}

#[derive(Default)]
struct Chunk {
    per_second: BTreeMap<(String, String, Timestamp), u64>,
    late: BTreeMap<(String, Timestamp, String), LateUsage>,
    open_periods: BTreeSet<(String, Timestamp)>,
    /// The usage-per-day counter items the per-second sums add to, as `(pk, sk)`.
    day_counters: BTreeSet<(String, String)>,
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
            + 1
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
            Billing::Late(late) => usize::from(!self.late.contains_key(&(
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
            Billing::Late(late) => {
                self.late_events += 1;
                self.late
                    .entry((
                        late.subscription_id.clone(),
                        late.period_start,
                        late.metric.clone(),
                    ))
                    .and_modify(|l| l.quantity += late.quantity)
                    .or_insert(late);
            }
            Billing::NotBilled => {}
        }
    }

    async fn apply(
        &self,
        app: &App,
        batch_id: &str,
        number: usize,
        report: &mut AggregationReport,
    ) -> Result<(), Attempt> {
        if self.events == 0 {
            return Ok(());
        }
        let marker = format!("{batch_id}#{number}");
        let mut change = Change::new();
        for ((user, metric, second), quantity) in &self.per_second {
            change.add_usage(user, metric, *second, *quantity);
        }
        for late in self.late.values() {
            change.add_late_usage(late);
        }
        for (subscription_id, period_start) in &self.open_periods {
            change.require_period_open(subscription_id, *period_start);
        }
        let now = app.clock.now().await?;
        change.mark_usage_batch_applied(&marker, now)?;
        match app.ledger.commit(change).await {
            Ok(()) => {
                report.counted += self.events;
                report.late += self.late_events;
                Ok(())
            }
            // Applied by an earlier run of this batch: nothing to add.
            Err(error) if error.conflicts() == [Conflict::UsageBatchApplied] => {
                report.counted += self.events;
                report.late += self.late_events;
                Ok(())
            }
            // The invoice run sealed a period meanwhile: retry, and its usage is late.
            Err(error) if error.has_conflict(|c| *c == Conflict::UsagePeriodSealed) => {
                Err(Attempt::Race)
            }
            Err(error) => Err(error.into()),
        }
    }
}

/// Aggregates every batch waiting in the durable queue, in arrival order.
pub async fn drain_usage_queue(app: &App) -> Result<AggregationReport, AppError> {
    let mut total = AggregationReport::default();
    loop {
        let batches = app.ledger.queued_usage(16).await?;
        if batches.is_empty() {
            return Ok(total);
        }
        for batch in &batches {
            let report = aggregate_batch(app, batch).await?;
            app.metrics
                .usage_aggregated(report.counted, report.duplicates, report.late);
            total.counted += report.counted;
            total.duplicates += report.duplicates;
            total.late += report.late;
            app.ledger.dequeue_usage(batch).await?;
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
