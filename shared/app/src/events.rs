//! Domain events: every audit entry is also an outbox item, written in the same transaction as
//! the change it records, and published from there through the [`EventSink`] port
//! (EventBridge in AWS). Two publishers share these functions: the handler on the table's
//! stream publishes each outbox item as it is inserted ([`publish_entries`]), and a sweep
//! ([`publish_outbox`]) publishes whatever the stream did not (its records expire after 24
//! hours; the function may have failed until then).
//!
//! Delivery is at least once: an entry leaves the outbox only after the sink accepted it, so a
//! crash between the two, or the stream and the sweep meeting on the same entry, publishes it
//! again. Every event carries the audit entry's stable `id`, on which consumers deduplicate.

use billing_ledger::keys::OUTBOX_SHARDS;
use billing_ledger::{AuditEntry, Ledger, PAGE_LIMIT_MAX};
use serde::Serialize;

use crate::error::AppError;
use crate::ports::EventSink;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PublishReport {
    /// Events the sink accepted and the outbox forgot.
    pub published: u64,
    /// The limit was reached first: the outbox may hold more (call again).
    pub limit_reached: bool,
}

/// Publishes `entries` (outbox items), then removes them from the outbox. If the sink fails,
/// nothing is removed and the error is returned: the entries stay for another attempt.
pub async fn publish_entries(
    ledger: &Ledger,
    sink: &dyn EventSink,
    entries: &[AuditEntry],
) -> Result<u64, AppError> {
    if entries.is_empty() {
        return Ok(0);
    }
    sink.publish(entries).await?;
    for entry in entries {
        ledger.remove_from_outbox(entry).await?;
    }
    Ok(u64::try_from(entries.len()).unwrap_or(u64::MAX))
}

/// Publishes up to `limit` events waiting in the outbox, shard after shard, each shard oldest
/// first, a page at a time. Stops at the first failure, leaving the failed page in the outbox
/// (what was published before it is gone from the outbox, so a rerun does not repeat it).
pub async fn publish_outbox(
    ledger: &Ledger,
    sink: &dyn EventSink,
    limit: usize,
) -> Result<PublishReport, AppError> {
    let mut report = PublishReport::default();
    let mut budget = limit;
    for shard in 0..OUTBOX_SHARDS {
        loop {
            if budget == 0 {
                report.limit_reached = true;
                return Ok(report);
            }
            let asked = budget.min(PAGE_LIMIT_MAX);
            let page = ledger.outbox(shard, asked).await?;
            report.published += publish_entries(ledger, sink, &page).await?;
            budget -= page.len();
            if page.len() < asked {
                break;
            }
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use async_trait::async_trait;
    use billing_core::audit::{AuditAction, EntityType};
    use billing_ledger::Change;
    use billing_ledger::keys::shard_of;
    use billing_store::testing as fixtures;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// Remembers what it was given; refuses everything while `down`.
    #[derive(Default)]
    struct Recorder {
        published: Mutex<Vec<AuditEntry>>,
        down: bool,
    }

    #[async_trait]
    impl EventSink for Recorder {
        async fn publish(&self, entries: &[AuditEntry]) -> Result<(), AppError> {
            if self.down {
                return Err(AppError::Unavailable("event bus down".into()));
            }
            self.published.lock().unwrap().extend_from_slice(entries);
            Ok(())
        }
    }

    fn entry(n: u32) -> AuditEntry {
        AuditEntry {
            id: format!("aud_{n:04}"),
            // Later entries are older: the outbox must order by time, not by insertion.
            at: "2027-01-10T00:00:00Z"
                .parse::<billing_core::Timestamp>()
                .unwrap()
                - chrono::Duration::seconds(i64::from(n)),
            actor: "system:test".into(),
            action: AuditAction::InvoiceFinalized,
            entity_type: EntityType::Invoice,
            entity_id: format!("inv_{n}"),
            data: serde_json::json!({"n": n}),
        }
    }

    /// A ledger on a fresh embedded table with `count` audited changes in its outbox.
    async fn outbox_of(count: u32) -> (fixtures::Fixture, Ledger, Vec<AuditEntry>) {
        let fixture = fixtures::embedded("events").await.unwrap();
        let ledger = Ledger::new(fixture.table.clone());
        let entries: Vec<AuditEntry> = (0..count).map(entry).collect();
        for chunk in entries.chunks(10) {
            let mut change = Change::new();
            for entry in chunk {
                change.audit(entry).unwrap();
            }
            ledger.commit(change).await.unwrap();
        }
        (fixture, ledger, entries)
    }

    async fn outbox_len(ledger: &Ledger) -> usize {
        let mut len = 0;
        for shard in 0..OUTBOX_SHARDS {
            len += ledger.outbox(shard, 100).await.unwrap().len();
        }
        len
    }

    #[tokio::test]
    async fn the_sweep_publishes_every_waiting_event_once_oldest_first_per_shard() {
        let (_fixture, ledger, entries) = outbox_of(250).await;
        let sink = Recorder::default();
        let report = publish_outbox(&ledger, &sink, 10_000).await.unwrap();
        assert_eq!(
            report,
            PublishReport {
                published: 250,
                limit_reached: false
            }
        );
        assert_eq!(outbox_len(&ledger).await, 0);
        let published = sink.published.lock().unwrap().clone();
        let mut ids: Vec<&str> = published.iter().map(|e| e.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), entries.len());
        // Within a shard, oldest first.
        let mut per_shard: BTreeMap<u32, Vec<&AuditEntry>> = BTreeMap::new();
        for event in &published {
            per_shard
                .entry(shard_of(&event.id))
                .or_default()
                .push(event);
        }
        assert!(per_shard.len() > 1);
        for events in per_shard.values() {
            assert!(events.windows(2).all(|pair| pair[0].at <= pair[1].at));
        }
        // Nothing is left, so another sweep publishes nothing.
        let again = publish_outbox(&ledger, &sink, 10_000).await.unwrap();
        assert_eq!(again.published, 0);
    }

    #[tokio::test]
    async fn the_limit_bounds_one_sweep_and_the_next_one_goes_on() {
        let (_fixture, ledger, _) = outbox_of(40).await;
        let sink = Recorder::default();
        let first = publish_outbox(&ledger, &sink, 15).await.unwrap();
        assert_eq!(
            first,
            PublishReport {
                published: 15,
                limit_reached: true
            }
        );
        assert_eq!(outbox_len(&ledger).await, 25);
        let second = publish_outbox(&ledger, &sink, 100).await.unwrap();
        assert_eq!(second.published, 25);
        assert!(!second.limit_reached);
        let mut ids: Vec<String> = sink
            .published
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 40);
    }

    #[tokio::test]
    async fn nothing_leaves_the_outbox_that_the_sink_did_not_accept() {
        let (_fixture, ledger, entries) = outbox_of(12).await;
        let down = Recorder {
            down: true,
            ..Recorder::default()
        };
        let error = publish_outbox(&ledger, &down, 100).await.unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Unavailable);
        assert_eq!(outbox_len(&ledger).await, 12);
        assert!(
            publish_entries(&ledger, &down, &entries[..2])
                .await
                .is_err()
        );
        assert_eq!(outbox_len(&ledger).await, 12);
        // The stream's path: just the given entries are published and forgotten.
        let up = Recorder::default();
        assert_eq!(
            publish_entries(&ledger, &up, &entries[..2]).await.unwrap(),
            2
        );
        assert_eq!(outbox_len(&ledger).await, 10);
        assert_eq!(*up.published.lock().unwrap(), entries[..2]);
    }
}
