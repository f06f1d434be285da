//! The audit log and its outbox: every change's entry, written in the change it records, and
//! the outbox item that publishes it as a domain event; reads by entity, action or all, and
//! the outbox by shard.

use billing_core::Timestamp;
use billing_core::audit::{AuditAction, EntityType};
use billing_store::schema::PARTITION_KEY;
use billing_store::{Condition, Index, Item, Query, SortKeyCondition};
use serde::{Deserialize, Serialize};

use crate::change::{Change, gsi, newest_sk};
use crate::error::Result;
use crate::keys;
use crate::ledger::{Ledger, Listing, PAGE_LIMIT_MAX, PageRequest};
use crate::record::{TYPE_ATTRIBUTE, from_item, s, string_attribute, to_item};

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

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub entity_id: Option<String>,
    pub action: Option<AuditAction>,
}

impl Ledger {
    /// Audit entries, newest first: of one entity, of one action, or all.
    pub async fn audit(
        &self,
        filter: &AuditFilter,
        page: &PageRequest,
    ) -> Result<Listing<AuditEntry>> {
        let (index, partition) = match (&filter.entity_id, filter.action) {
            (Some(entity), _) => (Index::Primary, keys::audit_partition(entity)),
            (None, Some(action)) => (Index::Gsi4, format!("ACTION#{}", action.as_str())),
            (None, None) => (Index::Gsi3, "AUDIT".to_owned()),
        };
        self.list(
            "audit",
            index,
            partition,
            SortKeyCondition::All,
            page,
            |e: &AuditEntry| filter.action.is_none_or(|a| e.action == a),
        )
        .await
    }

    /// Up to `limit` unpublished events of one outbox shard, oldest first.
    pub async fn outbox(&self, shard: u32, limit: usize) -> Result<Vec<AuditEntry>> {
        let query = Query::partition(
            Index::Primary,
            keys::outbox_partition(shard),
            limit.clamp(1, PAGE_LIMIT_MAX),
        );
        let page = self.table.query(query).await?;
        page.items
            .into_iter()
            .map(|item: Item| from_item("outbox", item))
            .collect()
    }

    /// Forgets a published event.
    pub async fn remove_from_outbox(&self, entry: &AuditEntry) -> Result<()> {
        self.table
            .delete(&keys::outbox(entry.at, &entry.id), Condition::Always)
            .await?;
        Ok(())
    }

    /// The unpublished event `image` holds when it is an outbox item, `None` for any other
    /// item. For the publisher on the table's stream, whose records carry items (`NewImage`)
    /// of every kind; an outbox item that does not decode is an error, not `None`.
    pub fn outbox_entry_from_image(image: &Item) -> Result<Option<AuditEntry>> {
        let is_outbox = string_attribute("image", image, TYPE_ATTRIBUTE)?.as_deref()
            == Some("outbox")
            && string_attribute("image", image, PARTITION_KEY)?
                .is_some_and(|pk| pk.starts_with(keys::OUTBOX_PREFIX));
        if !is_outbox {
            return Ok(None);
        }
        from_item("outbox", image.clone()).map(Some)
    }
}

impl Change {
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
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use billing_store::TransactItem;

    fn entry() -> AuditEntry {
        AuditEntry {
            id: "aud_1".into(),
            at: "2027-01-10T00:00:00Z".parse().unwrap(),
            actor: "token:tok_1".into(),
            action: AuditAction::InvoicePaid,
            entity_type: EntityType::Invoice,
            entity_id: "inv_1".into(),
            data: serde_json::json!({"amount_cents": 1200, "lines": [1, 2]}),
        }
    }

    /// The items `change` puts, by their `type`.
    fn puts(change: Change) -> Vec<(String, Item)> {
        change
            .writes
            .into_iter()
            .filter_map(|(write, _)| match write {
                TransactItem::Put { item, .. } => Some((
                    string_attribute("test", &item, TYPE_ATTRIBUTE)
                        .unwrap()
                        .unwrap(),
                    item,
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn only_an_outbox_item_gives_its_entry_back() {
        let mut change = Change::new();
        change.audit(&entry()).unwrap();
        let items = puts(change);
        let (_, outbox) = items.iter().find(|(kind, _)| kind == "outbox").unwrap();
        let (_, audit) = items.iter().find(|(kind, _)| kind == "audit").unwrap();
        assert_eq!(
            Ledger::outbox_entry_from_image(outbox).unwrap(),
            Some(entry())
        );
        // The audit item holds the same entry, but it is not an event to publish.
        assert_eq!(Ledger::outbox_entry_from_image(audit).unwrap(), None);
        assert_eq!(
            Ledger::outbox_entry_from_image(&Item::default()).unwrap(),
            None
        );
        let mut broken = outbox.clone();
        broken.insert("action".into(), s("no.such_action"));
        assert!(Ledger::outbox_entry_from_image(&broken).is_err());
    }
}
