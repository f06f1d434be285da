//! A change: the writes of one use case, committed all together or not at all, each carrying
//! the [`Conflict`] its condition means when it fails. A state change and its audit entry (and
//! outbox event) are always in the same change, and so are the dashboard counters it moves
//! (derived from the states it writes, see [`crate::dashboard`]).
//!
//! This module holds what every change shares; the writes of each aggregate are `impl Change`
//! blocks in that aggregate's module, beside its reads.

use std::collections::BTreeMap;

use billing_core::Timestamp;
use billing_store::{AttributeValue, Condition, Key, TransactItem, Update};

use crate::dashboard::Count;
use crate::error::{Conflict, Result};
use crate::invoices::TakenNumbers;
use crate::keys::sortable;
use crate::record::{s, to_item};

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
    /// The turn on the invoice-number counter, held until the change is queued in order or
    /// committed (or dropped), so the next writer of this process conditions on the counter
    /// this change leaves.
    pub(crate) numbers: Option<TakenNumbers>,
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
    pub(crate) fn count(&mut self, counts: Vec<Count>, sign: i64) {
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

    /// The invoice numbers this change takes, with the turn, for the commit to hand on.
    pub(crate) fn take_numbers(&mut self) -> Option<TakenNumbers> {
        self.numbers.take()
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

    pub(crate) fn delete(&mut self, key: Key, condition: Condition, conflict: Option<Conflict>) {
        self.writes
            .push((TransactItem::Delete { key, condition }, conflict));
    }

    /// Puts an item that exists only to be unique (a claim or a marker): `NotExists`, and
    /// `conflict` when it is already there.
    pub(crate) fn claim(
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::AuditEntry;
    use billing_core::audit::{AuditAction, EntityType};

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
