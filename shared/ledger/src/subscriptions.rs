//! Subscriptions: the subscription item (in the renewal index while live), the claims that
//! keep one live subscription per (user, plan) and one pricer per (user, metric), and the
//! releases that say who priced a metric until when.

use std::collections::BTreeSet;

use billing_core::Timestamp;
use billing_core::plan::Plan;
use billing_core::subscription::{Subscription, SubscriptionStatus};
use billing_store::{Condition, Index, Key, SortKeyCondition, TransactItem};

use crate::change::{Change, gsi, newest_sk};
use crate::dashboard;
use crate::error::{Conflict, Result};
use crate::keys;
use crate::ledger::{Ledger, Listing, PageRequest};
use crate::record::{Versioned, required, s, string_attribute, to_item};

impl Ledger {
    pub async fn subscription(&self, id: &str) -> Result<Option<Versioned<Subscription>>> {
        self.get_versioned("subscription", keys::subscription(id))
            .await
    }

    /// The live subscription of `user_id` that prices `metric`, if any.
    pub async fn subscription_pricing(
        &self,
        user_id: &str,
        metric: &str,
    ) -> Result<Option<String>> {
        let Some(item) = self.table.get(&keys::metric_claim(user_id, metric)).await? else {
            return Ok(None);
        };
        required(
            "metric_claim",
            &item,
            "subscription_id",
            string_attribute("metric_claim", &item, "subscription_id")?,
        )
        .map(Some)
    }

    /// The first claim a move of `subscription` from `plan_before` to `plan_after` needs that
    /// is taken: what [`Change::require_claims_free`] would refuse, read without writing (for a
    /// preview that must refuse what the change would).
    pub async fn claim_taken(
        &self,
        subscription: &billing_core::subscription::Subscription,
        plan_before: &billing_core::plan::Plan,
        plan_after: &billing_core::plan::Plan,
    ) -> Result<Option<Conflict>> {
        for (key, conflict) in claims_needed(subscription, plan_before, plan_after) {
            if self.table.get(&key).await?.is_some() {
                return Ok(Some(conflict));
            }
        }
        Ok(None)
    }

    pub async fn subscriptions(
        &self,
        user_id: Option<&str>,
        status: Option<SubscriptionStatus>,
        page: &PageRequest,
    ) -> Result<Listing<Subscription>> {
        let (index, partition) = match user_id {
            Some(user) => (Index::Gsi1, format!("USERSUB#{user}")),
            None => (Index::Gsi3, "SUBS".to_owned()),
        };
        self.list(
            "subscription",
            index,
            partition,
            SortKeyCondition::All,
            page,
            |s: &Subscription| status.is_none_or(|wanted| s.status == wanted),
        )
        .await
    }

    /// Ids of live subscriptions in `shard` whose period ended at or before `now`, oldest first.
    pub async fn due_renewals(
        &self,
        shard: u32,
        now: Timestamp,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>)> {
        self.due(
            Index::Gsi2,
            keys::renewal_due_partition(shard),
            now,
            limit,
            cursor,
        )
        .await
    }
}

impl Change {
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
