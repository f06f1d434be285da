//! Invoices and payments: the invoice item (identity = id, in the payment index while an
//! attempt is due), the gap-free number counter, payments with their (invoice, gateway
//! transaction) claim, credit notes, the payment lease and the pending attempt.

use std::sync::Arc;

use billing_core::Timestamp;
use billing_core::invoice::{CreditNote, Invoice, InvoiceStatus};
use billing_core::payment::{Payment, PendingAttempt};
use billing_store::{Condition, Index, Query, SortKeyCondition, StoreError, TransactItem, Update};

use crate::change::{Change, gsi, newest_sk};
use crate::dashboard;
use crate::error::{Conflict, LedgerError, Result};
use crate::keys;
use crate::ledger::{Ledger, Listing, PAGE_LIMIT_MAX, PageRequest};
use crate::record::{Versioned, from_item, n, number_attribute, required, s, to_item};

#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub user_id: Option<String>,
    pub subscription_id: Option<String>,
    pub status: Option<InvoiceStatus>,
}

/// The right to take the next invoice numbers, held from reading the counter until the change
/// that takes them is queued in order or committed (it travels inside the [`Change`]).
#[derive(Debug)]
pub struct NumberingTurn {
    pub last_number: u64,
    pub(crate) guard: tokio::sync::OwnedMutexGuard<()>,
}

/// This process's side of the invoice-number counter. The counter's condition alone keeps
/// numbers gap-free and unique; this only decides which value a change conditions on, so
/// that writers of one process queue instead of racing, and so that on a table that orders
/// writes ([`billing_store::Table::transact_write_in_order`]: the embedded store) the next
/// change can be queued behind the previous one without waiting for its commit, and many
/// invoices share one fsync'd commit.
#[derive(Default)]
pub(crate) struct Numbering {
    /// The turn: held from choosing the numbers until the change that takes them is queued
    /// in order (embedded) or committed (DynamoDB).
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The counter's value once every numbered change queued so far commits; `None` after
    /// one failed (its successors fail their condition too, and the counter must be read).
    expected: std::sync::Mutex<Option<u64>>,
    /// Held shared by each numbered change from its queuing until its outcome: a turn that
    /// reads the counter first waits until no numbered change is pending.
    pending: Arc<tokio::sync::RwLock<()>>,
}

impl Numbering {
    fn expected(&self) -> Option<u64> {
        *self
            .expected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_expected(&self, value: Option<u64>) {
        *self
            .expected
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = value;
    }
}

/// Numbers taken by a change: its turn, and the counter's value once it commits.
#[derive(Debug)]
pub(crate) struct TakenNumbers {
    pub(crate) guard: tokio::sync::OwnedMutexGuard<()>,
    pub(crate) counter_after: u64,
}

impl Ledger {
    pub async fn invoice(&self, id: &str) -> Result<Option<Versioned<Invoice>>> {
        self.get_versioned("invoice", keys::invoice(id)).await
    }

    /// Invoices by subscription, user or status (the most selective given), newest first.
    pub async fn invoices(
        &self,
        filter: &InvoiceFilter,
        page: &PageRequest,
    ) -> Result<Listing<Invoice>> {
        let (index, partition) = if let Some(subscription) = &filter.subscription_id {
            (Index::Gsi5, format!("SUBINV#{subscription}"))
        } else if let Some(user) = &filter.user_id {
            (Index::Gsi1, format!("USERINV#{user}"))
        } else if let Some(status) = filter.status {
            (Index::Gsi4, format!("INVSTATUS#{}", status.as_str()))
        } else {
            (Index::Gsi3, "INVOICES".to_owned())
        };
        self.list(
            "invoice",
            index,
            partition,
            SortKeyCondition::All,
            page,
            |i: &Invoice| {
                filter.user_id.as_ref().is_none_or(|u| &i.user_id == u)
                    && filter
                        .subscription_id
                        .as_ref()
                        .is_none_or(|s| i.subscription_id.as_ref() == Some(s))
                    && filter.status.is_none_or(|s| i.status == s)
            },
        )
        .await
    }

    /// Payments by invoice or user, newest first.
    pub async fn payments(
        &self,
        invoice_id: Option<&str>,
        user_id: Option<&str>,
        page: &PageRequest,
    ) -> Result<Listing<Payment>> {
        let (index, partition, sort) = match (invoice_id, user_id) {
            (Some(invoice), _) => (
                Index::Primary,
                keys::invoice_partition(invoice),
                SortKeyCondition::BeginsWith(keys::PAYMENT_PREFIX.into()),
            ),
            (None, Some(user)) => (
                Index::Gsi1,
                format!("USERPAY#{user}"),
                SortKeyCondition::All,
            ),
            (None, None) => (Index::Gsi3, "PAYMENTS".to_owned(), SortKeyCondition::All),
        };
        self.list("payment", index, partition, sort, page, |p: &Payment| {
            user_id.is_none_or(|u| p.user_id == u)
        })
        .await
    }

    /// Every credit note of an invoice (what the cap is checked against).
    pub async fn credit_notes(&self, invoice_id: &str) -> Result<Vec<CreditNote>> {
        let mut notes = Vec::new();
        let mut cursor = None;
        loop {
            let query = Query::partition(
                Index::Primary,
                keys::invoice_partition(invoice_id),
                PAGE_LIMIT_MAX,
            )
            .sort(SortKeyCondition::BeginsWith(
                keys::CREDIT_NOTE_PREFIX.into(),
            ))
            .after(cursor);
            let page = self.table.query(query).await?;
            for item in page.items {
                notes.push(from_item("credit_note", item)?);
            }
            match page.next {
                Some(next) => cursor = Some(next),
                None => return Ok(notes),
            }
        }
    }

    /// Ids of open invoices in `shard` whose next payment attempt is at or before `now`.
    pub async fn due_payments(
        &self,
        shard: u32,
        now: Timestamp,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<String>, Option<String>)> {
        self.due(
            Index::Gsi2,
            keys::payment_due_partition(shard),
            now,
            limit,
            cursor,
        )
        .await
    }

    /// Waits for this process's turn on the invoice-number counter, then reads it. Every
    /// invoice-creating change updates that one item under an optimistic condition; writers of
    /// one process that raced for it would mostly lose and could starve, so they queue here
    /// (first come, first served) and only writers of other processes can still collide.
    ///
    /// While numbered changes of this process are still pending, the turn conditions on the
    /// value they leave (the next numbers follow theirs, their commit and this one's may be
    /// the same); otherwise, and after one failed, it reads the counter once they are done.
    pub async fn numbering_turn(&self) -> Result<NumberingTurn> {
        let guard = Arc::clone(&self.numbering.turn).lock_owned().await;
        let idle = self.numbering.pending.try_write().is_ok();
        if let (Some(expected), false) = (self.numbering.expected(), idle) {
            return Ok(NumberingTurn {
                last_number: expected,
                guard,
            });
        }
        if !idle {
            // Only turn holders add pending changes, and this one holds the turn.
            drop(self.numbering.pending.write().await);
        }
        Ok(NumberingTurn {
            last_number: self.last_invoice_number().await?,
            guard,
        })
    }

    /// Commits a transaction that takes invoice numbers (for [`Ledger::commit`]): queued in
    /// order while the turn is held, the turn handed on as soon as it is queued (at once, on a
    /// table that orders writes; after the commit otherwise), the outcome awaited after.
    pub(crate) async fn transact_numbered(
        &self,
        items: Vec<TransactItem>,
        taken: TakenNumbers,
    ) -> std::result::Result<(), StoreError> {
        if !self.table.orders_writes() {
            // DynamoDB: the turn is held until the commit, and the next turn reads the
            // counter (other processes take numbers too).
            let outcome = self.table.transact_write(items).await;
            drop(taken);
            return outcome;
        }
        let pending_guard = Arc::clone(&self.numbering.pending).read_owned().await;
        let pending = match self.table.transact_write_in_order(items).await {
            Ok(pending) => pending,
            Err(error) => {
                self.numbering.set_expected(None);
                return Err(error);
            }
        };
        self.numbering.set_expected(Some(taken.counter_after));
        drop(taken.guard);
        let outcome = pending.await;
        if outcome.is_err() {
            // The changes queued behind this one conditioned on its numbers and fail too;
            // the next turn reads the counter once they are all done.
            self.numbering.set_expected(None);
        }
        drop(pending_guard);
        outcome
    }

    /// The last invoice number taken (0 before the first invoice).
    pub async fn last_invoice_number(&self) -> Result<u64> {
        let Some(item) = self.table.get(&keys::invoice_number_counter()).await? else {
            return Ok(0);
        };
        let value = required(
            "invoice_number_counter",
            &item,
            "value",
            number_attribute("invoice_number_counter", &item, "value")?,
        )?;
        u64::try_from(value).map_err(|_| {
            LedgerError::corrupt(
                "invoice_number_counter",
                &item,
                format!("negative value {value}"),
            )
        })
    }

    /// Takes the lease on charging `invoice_id` for `seconds`, unless another holder has an
    /// unexpired one. The lease is a TTL item: once expired it counts as absent.
    pub async fn acquire_payment_lease(
        &self,
        invoice_id: &str,
        holder: &str,
        now_epoch: i64,
        seconds: i64,
    ) -> Result<bool> {
        let item = to_item(
            "payment_lease",
            &serde_json::json!({"holder": holder}),
            &keys::payment_lease(invoice_id),
            None,
            vec![("expires_at", crate::record::n(now_epoch + seconds))],
        )?;
        match self.table.put(item, Condition::NotExists).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// Gives the lease back, if `holder` still has it.
    pub async fn release_payment_lease(&self, invoice_id: &str, holder: &str) -> Result<()> {
        match self
            .table
            .delete(
                &keys::payment_lease(invoice_id),
                Condition::AttributeEquals("holder".into(), s(holder)),
            )
            .await
        {
            Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Records that `attempt` is about to call the gateway. Returns false when an attempt on
    /// the invoice is already pending (it must be resolved first).
    pub async fn record_pending_attempt(&self, attempt: &PendingAttempt) -> Result<bool> {
        let item = to_item(
            "pending_attempt",
            attempt,
            &keys::pending_attempt(&attempt.invoice_id),
            None,
            vec![],
        )?;
        match self.table.put(item, Condition::NotExists).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(error) => Err(error.into()),
        }
    }

    /// The invoice's attempt whose outcome is not recorded yet, if any.
    pub async fn pending_attempt(&self, invoice_id: &str) -> Result<Option<PendingAttempt>> {
        self.table
            .get(&keys::pending_attempt(invoice_id))
            .await?
            .map(|item| from_item("pending_attempt", item))
            .transpose()
    }
}

impl Change {
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
        self.numbers = Some(TakenNumbers {
            guard: turn.guard,
            counter_after: last_number + count,
        });
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
