//! A change: the writes of one use case, committed all together or not at all, each carrying
//! the [`Conflict`] its condition means when it fails. A state change and its audit entry (and
//! outbox event) are always in the same change, and so are the dashboard counters it moves
//! (derived from the states it writes, see [`crate::dashboard`]).

use std::collections::{BTreeMap, BTreeSet};

use billing_core::audit::EntityType;
use billing_core::invoice::{CreditNote, Invoice, InvoiceStatus};
use billing_core::payment::Payment;
use billing_core::plan::Plan;
use billing_core::subscription::Subscription;
use billing_core::user::{NAME_SEARCH_KEY_CHARS, User, name_search_key};
use billing_core::{Timestamp, audit::AuditAction};
use billing_store::{AttributeValue, Condition, Key, TransactItem, Update};
use serde::{Deserialize, Serialize};

use crate::dashboard::{self, Count};
use crate::error::{Conflict, Result};
use crate::keys::{self, sortable};
use crate::ledger::{LateUsage, NumberingTurn, Seal};
use crate::record::{Versioned, n, s, to_item};
use crate::token::Token;

/// One entry of the audit log, which is also the domain event published to EventBridge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: Timestamp,
    /// Who did it: `token:tok_…`, `system:invoice-run`, `webhook:stripe`…
    pub actor: String,
    pub action: AuditAction,
    pub entity_type: EntityType,
    pub entity_id: String,
    pub data: serde_json::Value,
}

/// GSI attribute names (see `billing_store::schema::GSIS`).
pub(crate) mod gsi {
    pub const OWNER_PK: &str = "gsi1pk";
    pub const OWNER_SK: &str = "gsi1sk";
    pub const DUE_PK: &str = "gsi2pk";
    pub const DUE_SK: &str = "gsi2sk";
    pub const ALL_PK: &str = "gsi3pk";
    pub const ALL_SK: &str = "gsi3sk";
    pub const FILTER_PK: &str = "gsi4pk";
    pub const FILTER_SK: &str = "gsi4sk";
    pub const SUB_PK: &str = "gsi5pk";
    pub const SUB_SK: &str = "gsi5sk";
}

pub(crate) fn newest_sk(at: Timestamp, id: &str) -> AttributeValue {
    s(format!("{}#{id}", sortable(at)))
}

#[derive(Debug, Default)]
pub struct Change {
    pub(crate) writes: Vec<(TransactItem, Option<Conflict>)>,
    /// Held until the change is committed or dropped, so the next writer of this process
    /// reads the counter only after this change's numbers are taken or given up.
    numbering_turn: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// The dashboard counters' deltas, by item `(pk, sk)` and attribute: merged, because a
    /// transaction may not touch one item twice, and written as one `ADD` update per item.
    counters: BTreeMap<(String, String), BTreeMap<String, i64>>,
}

impl Change {
    pub fn new() -> Self {
        Self::default()
    }

    /// How many writes the change commits, counter updates included.
    pub fn len(&self) -> usize {
        self.writes.len() + self.counter_writes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `sign` × each count to the counters (+1 for a new state, −1 for the one it
    /// replaces: what both states count the same cancels out).
    fn count(&mut self, counts: Vec<Count>, sign: i64) {
        for (key, attribute, value) in counts {
            let delta = self
                .counters
                .entry((key.pk, key.sk))
                .or_default()
                .entry(attribute)
                .or_default();
            *delta = delta.saturating_add(value.saturating_mul(sign));
        }
    }

    /// One unconditional `ADD` per counter item with a non-zero delta.
    fn counter_writes(&self) -> Vec<TransactItem> {
        self.counters
            .iter()
            .filter_map(|((pk, sk), deltas)| {
                let update = deltas
                    .iter()
                    .filter(|(_, delta)| **delta != 0)
                    .fold(Update::new(), |update, (attribute, delta)| {
                        update.add(attribute.clone(), *delta)
                    });
                (!update.actions.is_empty()).then(|| TransactItem::Update {
                    key: Key::new(pk.clone(), sk.clone()),
                    update,
                    condition: Condition::Always,
                })
            })
            .collect()
    }

    /// Every write to commit, the counter updates last; the numbering turn stays held.
    pub(crate) fn take_writes(&mut self) -> Vec<(TransactItem, Option<Conflict>)> {
        let counters = self.counter_writes();
        self.counters.clear();
        let mut writes = std::mem::take(&mut self.writes);
        writes.extend(counters.into_iter().map(|write| (write, None)));
        writes
    }

    /// What this change costs in DynamoDB write units by AWS's published rules: each write
    /// costs 1 unit per started KB of the item, twice that inside a transaction (a change of
    /// more than one write), and 1 unit per KB more for every GSI a put item appears in (all
    /// attributes are projected). Condition checks are counted like transactional writes, and
    /// updates at the size of the key and values they send: an estimate, for BENCHMARKS.md and
    /// metrics, since DynamoDB Local does not price transactions.
    pub fn estimated_write_units(&self) -> u64 {
        let kilobytes =
            |bytes: usize| u64::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u64::MAX);
        let counters = self.counter_writes();
        let factor: u64 = if self.writes.len() + counters.len() > 1 {
            2
        } else {
            1
        };
        self.writes
            .iter()
            .map(|(write, _)| write)
            .chain(counters.iter())
            .map(|write| match write {
                TransactItem::Put { item, .. } => {
                    let size = kilobytes(billing_store::item_size_bytes(item));
                    let indexes = billing_store::schema::GSIS
                        .iter()
                        .filter(|gsi| item.contains_key(gsi.partition_key))
                        .count();
                    factor * size + size * u64::try_from(indexes).unwrap_or(0)
                }
                TransactItem::Update { key, update, .. } => {
                    let values: usize = update
                        .actions
                        .iter()
                        .map(|action| match action {
                            billing_store::UpdateAction::Set(name, _)
                            | billing_store::UpdateAction::Remove(name) => name.len() + 16,
                            billing_store::UpdateAction::Add(name, _) => name.len() + 8,
                        })
                        .sum();
                    factor * kilobytes(key.pk.len() + key.sk.len() + values)
                }
                TransactItem::Delete { .. } | TransactItem::ConditionCheck { .. } => factor,
            })
            .sum()
    }

    pub(crate) fn put(
        &mut self,
        item: billing_store::Item,
        condition: Condition,
        conflict: Option<Conflict>,
    ) {
        self.writes
            .push((TransactItem::Put { item, condition }, conflict));
    }

    fn delete(&mut self, key: Key, condition: Condition, conflict: Option<Conflict>) {
        self.writes
            .push((TransactItem::Delete { key, condition }, conflict));
    }

    // ---- users

    pub fn create_user(&mut self, user: &User, email_key: &str) -> Result<()> {
        self.claim(
            "email_claim",
            serde_json::json!({"user_id": user.id}),
            keys::email_claim(email_key),
            Conflict::EmailTaken,
        )?;
        self.put(user_item(user, 1)?, Condition::NotExists, None);
        Ok(())
    }

    /// Writes `user` as version `read_version + 1`, if it is still at `read_version`.
    pub fn update_user(&mut self, user: &User, read_version: u64) -> Result<()> {
        self.put(
            user_item(user, read_version + 1)?,
            Condition::VersionEquals(read_version),
            Some(Conflict::Stale {
                entity: "user",
                id: user.id.clone(),
            }),
        );
        Ok(())
    }

    // ---- plans

    pub fn create_plan(&mut self, plan: &Plan) -> Result<()> {
        self.put(
            plan_item(plan, 1)?,
            Condition::NotExists,
            Some(Conflict::PlanCodeTaken),
        );
        Ok(())
    }

    pub fn update_plan(&mut self, plan: &Plan, read_version: u64) -> Result<()> {
        self.put(
            plan_item(plan, read_version + 1)?,
            Condition::VersionEquals(read_version),
            Some(Conflict::Stale {
                entity: "plan",
                id: plan.code.clone(),
            }),
        );
        Ok(())
    }

    // ---- subscriptions

    /// A new subscription, with the claims that keep one live subscription per (user, plan)
    /// and one live pricer per (user, metric).
    pub fn create_subscription(&mut self, subscription: &Subscription, plan: &Plan) -> Result<()> {
        self.count(
            dashboard::subscription_counts(subscription, plan, subscription.created_at),
            1,
        );
        self.put(
            subscription_item(subscription, 1)?,
            Condition::NotExists,
            None,
        );
        self.claim_plan(subscription, plan)?;
        for metric in plan.metrics() {
            self.claim_metric(subscription, metric)?;
        }
        Ok(())
    }

    /// Writes `after` over the subscription `read`, if it is still at the version read,
    /// moving its claims when the plan changed and releasing them when it was canceled; the
    /// counters move from `read` on `plan_before` to `after` on `plan_after` at `at`.
    pub fn update_subscription(
        &mut self,
        read: &Versioned<Subscription>,
        after: &Subscription,
        plan_before: &Plan,
        plan_after: &Plan,
        at: Timestamp,
    ) -> Result<()> {
        let read_version = read.version;
        self.count(
            dashboard::subscription_counts(&read.value, plan_before, at),
            -1,
        );
        self.count(dashboard::subscription_counts(after, plan_after, at), 1);
        self.put(
            subscription_item(after, read_version + 1)?,
            Condition::VersionEquals(read_version),
            Some(Conflict::Stale {
                entity: "subscription",
                id: after.id.clone(),
            }),
        );
        let held: BTreeSet<&str> = plan_before.metrics().collect();
        let wanted: BTreeSet<&str> = if after.is_live() {
            plan_after.metrics().collect()
        } else {
            BTreeSet::new()
        };
        let owned_by_this = || Condition::AttributeEquals("subscription_id".into(), s(&after.id));
        if !after.is_live() || plan_before.code != plan_after.code {
            self.delete(
                keys::plan_claim(&after.user_id, &plan_before.code),
                owned_by_this(),
                None,
            );
            if after.is_live() {
                self.claim_plan(after, plan_after)?;
            }
        }
        // When the subscription stopped pricing: its end, or the start of the period on the
        // plan without the metric.
        let released_at = after.canceled_at.unwrap_or(after.current_period_start);
        for metric in held.difference(&wanted) {
            self.delete(
                keys::metric_claim(&after.user_id, metric),
                owned_by_this(),
                None,
            );
            let release = to_item(
                "metric_release",
                &serde_json::json!({"subscription_id": after.id}),
                &keys::metric_release(&after.user_id, metric, released_at, &after.id),
                None,
                vec![],
            )?;
            self.put(release, Condition::Always, None);
        }
        for metric in wanted.difference(&held) {
            self.claim_metric(after, metric)?;
        }
        Ok(())
    }

    /// Checks, without taking them, that the claims a move of `subscription` from
    /// `plan_before` to `plan_after` would take are free ([`claims_needed`]). A plan change
    /// scheduled for the period end is checked like this when it is requested, so it fails
    /// then (409) and not at every renewal after.
    pub fn require_claims_free(
        &mut self,
        subscription: &Subscription,
        plan_before: &Plan,
        plan_after: &Plan,
    ) {
        for (key, conflict) in claims_needed(subscription, plan_before, plan_after) {
            self.writes.push((
                TransactItem::ConditionCheck {
                    key,
                    condition: Condition::NotExists,
                },
                Some(conflict),
            ));
        }
    }

    fn claim_plan(&mut self, subscription: &Subscription, plan: &Plan) -> Result<()> {
        self.claim(
            "plan_claim",
            serde_json::json!({"subscription_id": subscription.id}),
            keys::plan_claim(&subscription.user_id, &plan.code),
            Conflict::PlanAlreadySubscribed {
                plan_code: plan.code.clone(),
            },
        )
    }

    fn claim_metric(&mut self, subscription: &Subscription, metric: &str) -> Result<()> {
        self.claim(
            "metric_claim",
            serde_json::json!({"subscription_id": subscription.id}),
            keys::metric_claim(&subscription.user_id, metric),
            Conflict::MetricClaimed {
                metric: metric.to_owned(),
            },
        )
    }

    /// Puts an item that exists only to be unique (a claim or a marker): `NotExists`, and
    /// `conflict` when it is already there.
    fn claim(
        &mut self,
        entity_type: &'static str,
        content: serde_json::Value,
        key: Key,
        conflict: Conflict,
    ) -> Result<()> {
        let item = to_item(entity_type, &content, &key, None, vec![])?;
        self.put(item, Condition::NotExists, Some(conflict));
        Ok(())
    }

    // ---- invoices

    /// A new invoice; its id is its identity, so a second writer of the same invoice loses.
    pub fn create_invoice(&mut self, invoice: &Invoice) -> Result<()> {
        self.count(dashboard::invoice_counts(invoice), 1);
        self.put(
            invoice_item(invoice, 1)?,
            Condition::NotExists,
            Some(Conflict::InvoiceExists {
                invoice_id: invoice.id.clone(),
            }),
        );
        Ok(())
    }

    /// Takes invoice numbers `last_number + 1 ..= last_number + count`, if the counter still
    /// reads `last_number`: numbers are gap-free because they are taken in the same
    /// transaction as the invoices that carry them.
    pub fn take_invoice_numbers(&mut self, turn: NumberingTurn, count: u64) {
        let last_number = turn.last_number;
        self.numbering_turn = Some(turn.guard);
        let condition = if last_number == 0 {
            Condition::NotExists
        } else {
            Condition::AttributeEquals("value".into(), n(last_number))
        };
        self.writes.push((
            TransactItem::Update {
                key: keys::invoice_number_counter(),
                update: Update::new().set("value", n(last_number + count)),
                condition,
            },
            Some(Conflict::InvoiceNumberTaken),
        ));
    }

    /// Writes `invoice` over the invoice `read`, if it is still at the version read.
    pub fn update_invoice(&mut self, read: &Versioned<Invoice>, invoice: &Invoice) -> Result<()> {
        let read_version = read.version;
        self.count(dashboard::invoice_counts(&read.value), -1);
        self.count(dashboard::invoice_counts(invoice), 1);
        self.put(
            invoice_item(invoice, read_version + 1)?,
            Condition::VersionEquals(read_version),
            Some(Conflict::Stale {
                entity: "invoice",
                id: invoice.id.clone(),
            }),
        );
        Ok(())
    }

    // ---- payments and notes

    /// Forgets the invoice's pending attempt (if any): written with the attempt's outcome, so
    /// an attempt is either pending or recorded, never both nor neither.
    pub fn clear_pending_attempt(&mut self, invoice_id: &str) {
        self.delete(keys::pending_attempt(invoice_id), Condition::Always, None);
    }

    /// A payment attempt, unique per (invoice, gateway transaction).
    pub fn create_payment(&mut self, payment: &Payment) -> Result<()> {
        if let Some(txn) = &payment.gateway_txn_id {
            self.claim(
                "payment_claim",
                serde_json::json!({"payment_id": payment.id}),
                keys::payment_claim(&payment.invoice_id, txn),
                Conflict::PaymentRecorded {
                    invoice_id: payment.invoice_id.clone(),
                },
            )?;
        }
        let item = to_item(
            "payment",
            payment,
            &keys::payment(&payment.invoice_id, payment.created_at, &payment.id),
            None,
            vec![
                (gsi::OWNER_PK, s(format!("USERPAY#{}", payment.user_id))),
                (gsi::OWNER_SK, newest_sk(payment.created_at, &payment.id)),
                (gsi::ALL_PK, s("PAYMENTS")),
                (gsi::ALL_SK, newest_sk(payment.created_at, &payment.id)),
            ],
        )?;
        self.put(item, Condition::NotExists, None);
        Ok(())
    }

    pub fn create_credit_note(&mut self, note: &CreditNote) -> Result<()> {
        let item = to_item(
            "credit_note",
            note,
            &keys::credit_note(&note.invoice_id, note.created_at, &note.id),
            None,
            vec![],
        )?;
        self.put(item, Condition::NotExists, None);
        Ok(())
    }

    // ---- audit and outbox

    /// The audit entry, and the outbox event that publishes it, in this same change.
    pub fn audit(&mut self, entry: &AuditEntry) -> Result<()> {
        let item = to_item(
            "audit",
            entry,
            &keys::audit(&entry.entity_id, entry.at, &entry.id),
            None,
            vec![
                (gsi::ALL_PK, s("AUDIT")),
                (gsi::ALL_SK, newest_sk(entry.at, &entry.id)),
                (
                    gsi::FILTER_PK,
                    s(format!("ACTION#{}", entry.action.as_str())),
                ),
                (gsi::FILTER_SK, newest_sk(entry.at, &entry.id)),
            ],
        )?;
        self.put(item, Condition::NotExists, None);
        let outbox = to_item(
            "outbox",
            entry,
            &keys::outbox(entry.at, &entry.id),
            None,
            vec![],
        )?;
        self.put(outbox, Condition::NotExists, None);
        Ok(())
    }

    // ---- webhooks, tokens, usage

    /// Processes a gateway event once: a redelivery fails this guard and changes nothing.
    pub fn mark_webhook_processed(&mut self, event_id: &str, at: Timestamp) -> Result<()> {
        self.claim(
            "webhook_event",
            serde_json::json!({"event_id": event_id, "at": sortable(at)}),
            keys::webhook_event(event_id),
            Conflict::WebhookEventProcessed {
                event_id: event_id.to_owned(),
            },
        )
    }

    pub fn create_token(&mut self, token: &Token) -> Result<()> {
        self.put(
            token_item(token, 1)?,
            Condition::NotExists,
            Some(Conflict::TokenExists),
        );
        self.claim(
            "token_hash",
            serde_json::json!({"token_id": token.id}),
            keys::token_by_hash(&token.secret_sha256),
            Conflict::TokenExists,
        )?;
        Ok(())
    }

    /// Marks the token revoked and removes the lookup by secret, so it authenticates no more.
    pub fn revoke_token(&mut self, revoked: &Token, read_version: u64) -> Result<()> {
        self.put(
            token_item(revoked, read_version + 1)?,
            Condition::VersionEquals(read_version),
            Some(Conflict::Stale {
                entity: "token",
                id: revoked.id.clone(),
            }),
        );
        self.delete(
            keys::token_by_hash(&revoked.secret_sha256),
            Condition::Always,
            None,
        );
        Ok(())
    }

    /// Records that usage batch `batch_id` has been added to the sums: in the same change as
    /// its [`Change::add_usage`] writes, so a redelivered batch is never added twice.
    pub fn mark_usage_batch_applied(&mut self, batch_id: &str, at: Timestamp) -> Result<()> {
        self.claim(
            "usage_batch",
            serde_json::json!({"batch_id": batch_id, "at": sortable(at)}),
            keys::usage_batch(batch_id),
            Conflict::UsageBatchApplied,
        )
    }

    /// Adds `quantity` to the per-second usage sum of (user, metric) at `second`.
    pub fn add_usage(&mut self, user_id: &str, metric: &str, second: Timestamp, quantity: u64) {
        let delta = i64::try_from(quantity).unwrap_or(i64::MAX);
        self.count(
            vec![dashboard::usage_counts(user_id, metric, second, delta)],
            1,
        );
        self.writes.push((
            TransactItem::Update {
                key: keys::usage_second(user_id, metric, second),
                update: Update::new().add("quantity", delta),
                condition: Condition::Always,
            },
            None,
        ));
    }

    /// Adds late usage of a closed period, for the subscription's next invoice. The item is in
    /// the renewal index at `due_at` (the subscription's period end while it lives, now once it
    /// has ended), so the invoice run bills it even if no renewal ever comes: a subscription
    /// that ends meanwhile bills it on an invoice of its own.
    pub fn add_late_usage(&mut self, late: &LateUsage, due_at: Timestamp) {
        let delta = i64::try_from(late.quantity).unwrap_or(i64::MAX);
        self.writes.push((
            TransactItem::Update {
                key: keys::late_usage(&late.subscription_id, late.period_start, &late.metric),
                update: late_usage_due(
                    Update::new()
                        .add("quantity", delta)
                        .set("subscription_id", s(&late.subscription_id))
                        .set("period_start", s(sortable(late.period_start)))
                        .set("period_end", s(sortable(late.period_end)))
                        .set("plan_code", s(&late.plan_code))
                        .set("metric", s(&late.metric)),
                    &late.subscription_id,
                    due_at,
                ),
                condition: Condition::Always,
            },
            None,
        ));
    }

    /// Moves waiting late usage to `due_at` in the renewal index: a live subscription whose
    /// period was moved (a plan change now) bills it at its next renewal.
    pub fn reschedule_late_usage(&mut self, late: &LateUsage, due_at: Timestamp) {
        self.writes.push((
            TransactItem::Update {
                key: keys::late_usage(&late.subscription_id, late.period_start, &late.metric),
                update: late_usage_due(Update::new(), &late.subscription_id, due_at),
                condition: Condition::Exists,
            },
            Some(Conflict::Stale {
                entity: "late_usage",
                id: late.subscription_id.clone(),
            }),
        ));
    }

    /// Removes late usage once an invoice billed it; fails (a race) if more arrived meanwhile.
    pub fn clear_late_usage(&mut self, late: &LateUsage) {
        self.writes.push((
            TransactItem::Delete {
                key: keys::late_usage(&late.subscription_id, late.period_start, &late.metric),
                condition: Condition::AttributeEquals("quantity".into(), n(late.quantity)),
            },
            Some(Conflict::Stale {
                entity: "late_usage",
                id: late.subscription_id.clone(),
            }),
        ));
    }

    /// Usage added by this change counts on time for the subscription's period starting at
    /// `period_start`: fails the change if the period was sealed meanwhile (the usage is then
    /// late), and bumps the period's usage version so a close that read the usage before this
    /// change cannot commit with it missing.
    pub fn require_period_open(&mut self, subscription_id: &str, period_start: Timestamp) {
        self.writes.push((
            TransactItem::ConditionCheck {
                key: keys::usage_seal(subscription_id, period_start),
                condition: Condition::NotExists,
            },
            Some(Conflict::UsagePeriodSealed),
        ));
        self.writes.push((
            TransactItem::Update {
                key: keys::period_usage_version(subscription_id, period_start),
                update: Update::new().add(billing_store::schema::VERSION_ATTRIBUTE, 1),
                condition: Condition::Always,
            },
            None,
        ));
    }

    /// Closes a period for aggregation in the same change as the transition that closes it:
    /// the seal is written only if no usage was added since the close read the period's usage
    /// version (`usage_version_read`), and only once. After it, the period's usage is late,
    /// billed by the seal's plan on the next invoice (never, for a trial).
    pub fn seal_period(
        &mut self,
        subscription_id: &str,
        seal: &Seal,
        usage_version_read: u64,
    ) -> Result<()> {
        let version_condition = if usage_version_read == 0 {
            Condition::NotExists
        } else {
            Condition::VersionEquals(usage_version_read)
        };
        self.writes.push((
            TransactItem::ConditionCheck {
                key: keys::period_usage_version(subscription_id, seal.period_start),
                condition: version_condition,
            },
            Some(Conflict::Stale {
                entity: "period_usage",
                id: subscription_id.to_owned(),
            }),
        ));
        let item = to_item(
            "usage_seal",
            seal,
            &keys::usage_seal(subscription_id, seal.period_start),
            None,
            vec![],
        )?;
        self.put(
            item,
            Condition::NotExists,
            Some(Conflict::Stale {
                entity: "usage_seal",
                id: subscription_id.to_owned(),
            }),
        );
        Ok(())
    }
}

/// The claims a move of `subscription` from `plan_before` to `plan_after` takes, with the
/// conflict each is when another live subscription holds it: the (user, plan) claim and every
/// metric `plan_after` prices that `plan_before` does not.
pub(crate) fn claims_needed(
    subscription: &Subscription,
    plan_before: &Plan,
    plan_after: &Plan,
) -> Vec<(Key, Conflict)> {
    let mut needed = Vec::new();
    if plan_before.code != plan_after.code {
        needed.push((
            keys::plan_claim(&subscription.user_id, &plan_after.code),
            Conflict::PlanAlreadySubscribed {
                plan_code: plan_after.code.clone(),
            },
        ));
    }
    let held: BTreeSet<&str> = plan_before.metrics().collect();
    for metric in plan_after.metrics().filter(|m| !held.contains(m)) {
        needed.push((
            keys::metric_claim(&subscription.user_id, metric),
            Conflict::MetricClaimed {
                metric: metric.to_owned(),
            },
        ));
    }
    needed
}

/// The renewal-index attributes of a late usage item: the run finds it by its subscription's
/// id, like the subscription's own item.
fn late_usage_due(update: Update, subscription_id: &str, due_at: Timestamp) -> Update {
    update
        .set("id", s(subscription_id))
        .set(
            gsi::DUE_PK,
            s(keys::renewal_due_partition(keys::shard_of(subscription_id))),
        )
        .set(gsi::DUE_SK, newest_sk(due_at, subscription_id))
}

fn token_item(token: &Token, version: u64) -> Result<billing_store::Item> {
    to_item(
        "token",
        token,
        &keys::token(&token.id),
        Some(version),
        vec![
            (gsi::ALL_PK, s("TOKENS")),
            (gsi::ALL_SK, newest_sk(token.created_at, &token.id)),
        ],
    )
}

fn user_item(user: &User, version: u64) -> Result<billing_store::Item> {
    let mut indexes = vec![
        (gsi::ALL_PK, s("USERS")),
        (gsi::ALL_SK, newest_sk(user.created_at, &user.id)),
    ];
    // Named users are in the name index (gsi4), by the first characters of their search key;
    // rewriting the user (every update is a whole put) moves the entry with the name.
    let search: String = user
        .name
        .as_deref()
        .map(name_search_key)
        .unwrap_or_default()
        .chars()
        .take(NAME_SEARCH_KEY_CHARS)
        .collect();
    if let Some(first) = search.chars().next() {
        indexes.push((gsi::FILTER_PK, s(keys::user_name_partition(first))));
        indexes.push((gsi::FILTER_SK, s(format!("{search}#{}", user.id))));
    }
    to_item("user", user, &keys::user(&user.id), Some(version), indexes)
}

fn plan_item(plan: &Plan, version: u64) -> Result<billing_store::Item> {
    to_item(
        "plan",
        plan,
        &keys::plan(&plan.code),
        Some(version),
        vec![
            (gsi::ALL_PK, s("PLANS")),
            (gsi::ALL_SK, newest_sk(plan.created_at, &plan.code)),
        ],
    )
}

fn subscription_item(subscription: &Subscription, version: u64) -> Result<billing_store::Item> {
    let mut extra = vec![
        (
            gsi::OWNER_PK,
            s(format!("USERSUB#{}", subscription.user_id)),
        ),
        (
            gsi::OWNER_SK,
            newest_sk(subscription.created_at, &subscription.id),
        ),
        (gsi::ALL_PK, s("SUBS")),
        (
            gsi::ALL_SK,
            newest_sk(subscription.created_at, &subscription.id),
        ),
    ];
    // Only live subscriptions are in the renewal index: the index is the run's work list.
    if subscription.is_live() {
        extra.push((
            gsi::DUE_PK,
            s(keys::renewal_due_partition(keys::shard_of(
                &subscription.id,
            ))),
        ));
        extra.push((
            gsi::DUE_SK,
            newest_sk(subscription.current_period_end, &subscription.id),
        ));
    }
    to_item(
        "subscription",
        subscription,
        &keys::subscription(&subscription.id),
        Some(version),
        extra,
    )
}

fn invoice_item(invoice: &Invoice, version: u64) -> Result<billing_store::Item> {
    let mut extra = vec![
        (gsi::OWNER_PK, s(format!("USERINV#{}", invoice.user_id))),
        (gsi::OWNER_SK, newest_sk(invoice.created_at, &invoice.id)),
        (gsi::ALL_PK, s("INVOICES")),
        (gsi::ALL_SK, newest_sk(invoice.created_at, &invoice.id)),
        (
            gsi::FILTER_PK,
            s(format!("INVSTATUS#{}", invoice.status.as_str())),
        ),
        (gsi::FILTER_SK, newest_sk(invoice.created_at, &invoice.id)),
    ];
    if let Some(subscription_id) = &invoice.subscription_id {
        extra.push((gsi::SUB_PK, s(format!("SUBINV#{subscription_id}"))));
        extra.push((gsi::SUB_SK, newest_sk(invoice.created_at, &invoice.id)));
    }
    // Only open invoices with an attempt due are in the payment index.
    if let (InvoiceStatus::Open, Some(next)) = (invoice.status, invoice.next_payment_attempt) {
        extra.push((
            gsi::DUE_PK,
            s(keys::payment_due_partition(keys::shard_of(&invoice.id))),
        ));
        extra.push((gsi::DUE_SK, newest_sk(next, &invoice.id)));
    }
    to_item(
        "invoice",
        invoice,
        &keys::invoice(&invoice.id),
        Some(version),
        extra,
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_single_write_costs_one_unit_per_kilobyte_and_a_transaction_twice() {
        let mut single = Change::new();
        single
            .mark_webhook_processed("evt_1", at("2027-01-01T00:00:00Z"))
            .unwrap();
        assert_eq!(single.estimated_write_units(), 1);
        let mut pair = Change::new();
        pair.mark_webhook_processed("evt_1", at("2027-01-01T00:00:00Z"))
            .unwrap();
        pair.require_period_open("sub_1", at("2027-01-01T00:00:00Z"));
        // Three writes in a transaction: the marker, the seal check, the version bump.
        assert_eq!(pair.estimated_write_units(), 6);
    }

    #[test]
    fn every_gsi_a_put_item_appears_in_costs_its_size_again() {
        let entry = AuditEntry {
            id: "aud_1".into(),
            at: at("2027-01-01T00:00:00Z"),
            actor: "test".into(),
            action: AuditAction::UserCreated,
            entity_type: EntityType::User,
            entity_id: "usr_1".into(),
            data: serde_json::json!({"big": "x".repeat(1500)}),
        };
        let mut change = Change::new();
        change.audit(&entry).unwrap();
        // Audit item: 2 KB × 2 (transaction) + 2 KB × 2 GSIs; outbox item: 2 KB × 2.
        assert_eq!(change.estimated_write_units(), 4 + 4 + 4);
    }
}
