//! The business counters behind the [`Metrics`] port, in one place for every exporter: the
//! local runner renders them as Prometheus text, the Lambdas as one EMF document per
//! invocation. Each report of the use cases adds to exactly one counter here.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::ports::Metrics;

/// Counters the use cases add to through the [`Metrics`] port.
#[derive(Debug, Default)]
pub struct Counters {
    usage_ingested: AtomicU64,
    usage_counted: AtomicU64,
    usage_duplicates: AtomicU64,
    usage_late: AtomicU64,
    invoices_created: AtomicU64,
    payments_succeeded: AtomicU64,
    payments_failed: AtomicU64,
    gateway_retries: AtomicU64,
    pending_attempts_resolved: AtomicU64,
    events_published: AtomicU64,
}

/// The counters' values at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CounterValues {
    pub usage_ingested: u64,
    pub usage_counted: u64,
    pub usage_duplicates: u64,
    pub usage_late: u64,
    pub invoices_created: u64,
    pub payments_succeeded: u64,
    pub payments_failed: u64,
    pub gateway_retries: u64,
    pub pending_attempts_resolved: u64,
    pub events_published: u64,
}

impl Counters {
    /// The totals so far (Prometheus counters only grow).
    pub fn read(&self) -> CounterValues {
        self.values(|counter| counter.load(Ordering::Relaxed))
    }

    /// The values since the last take, zeroing them (EMF documents carry deltas).
    pub fn take(&self) -> CounterValues {
        self.values(|counter| counter.swap(0, Ordering::Relaxed))
    }

    fn values(&self, value: impl Fn(&AtomicU64) -> u64) -> CounterValues {
        CounterValues {
            usage_ingested: value(&self.usage_ingested),
            usage_counted: value(&self.usage_counted),
            usage_duplicates: value(&self.usage_duplicates),
            usage_late: value(&self.usage_late),
            invoices_created: value(&self.invoices_created),
            payments_succeeded: value(&self.payments_succeeded),
            payments_failed: value(&self.payments_failed),
            gateway_retries: value(&self.gateway_retries),
            pending_attempts_resolved: value(&self.pending_attempts_resolved),
            events_published: value(&self.events_published),
        }
    }
}

/// What holds the counters: every holder is a [`Metrics`] port through them, so the rule of
/// which report adds to which counter is written once, below.
pub trait HasCounters: Send + Sync {
    fn counters(&self) -> &Counters;
}

impl HasCounters for Counters {
    fn counters(&self) -> &Counters {
        self
    }
}

fn add(counter: &AtomicU64, amount: u64) {
    counter.fetch_add(amount, Ordering::Relaxed);
}

impl<T: HasCounters> Metrics for T {
    fn usage_ingested(&self, events: u64) {
        add(&self.counters().usage_ingested, events);
    }
    fn usage_aggregated(&self, counted: u64, duplicates: u64, late: u64) {
        let counters = self.counters();
        add(&counters.usage_counted, counted);
        add(&counters.usage_duplicates, duplicates);
        add(&counters.usage_late, late);
    }
    fn invoices_created(&self, count: u64) {
        add(&self.counters().invoices_created, count);
    }
    fn payment_recorded(&self, succeeded: bool) {
        let counters = self.counters();
        let counter = if succeeded {
            &counters.payments_succeeded
        } else {
            &counters.payments_failed
        };
        add(counter, 1);
    }
    fn gateway_retry(&self) {
        add(&self.counters().gateway_retries, 1);
    }
    fn pending_attempt_resolved(&self) {
        add(&self.counters().pending_attempts_resolved, 1);
    }
    fn events_published(&self, count: u64) {
        add(&self.counters().events_published, count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_add_to_their_counter_read_keeps_and_take_resets() {
        let counters = Counters::default();
        counters.usage_aggregated(5, 2, 1);
        counters.payment_recorded(true);
        counters.payment_recorded(false);
        counters.payment_recorded(false);
        counters.events_published(3);
        let expected = CounterValues {
            usage_counted: 5,
            usage_duplicates: 2,
            usage_late: 1,
            payments_succeeded: 1,
            payments_failed: 2,
            events_published: 3,
            ..CounterValues::default()
        };
        assert_eq!(counters.read(), expected);
        assert_eq!(counters.take(), expected);
        assert_eq!(counters.read(), CounterValues::default());
    }
}
