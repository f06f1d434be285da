//! The audit vocabulary. Each state change records one of these in the same atomic write as
//! the change; the same entries are the domain events published to EventBridge.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum AuditAction {
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.updated")]
    UserUpdated,
    #[serde(rename = "plan.created")]
    PlanCreated,
    #[serde(rename = "plan.archived")]
    PlanArchived,
    #[serde(rename = "subscription.created")]
    SubscriptionCreated,
    #[serde(rename = "subscription.plan_changed")]
    SubscriptionPlanChanged,
    #[serde(rename = "subscription.plan_change_scheduled")]
    SubscriptionPlanChangeScheduled,
    /// Not in BILLING.md's list: a scheduled plan change that could not be applied at the
    /// renewal (another live subscription of the user took the plan or a metric since), so the
    /// subscription renewed on its current plan. See docs/billing-decisions.md.
    #[serde(rename = "subscription.plan_change_dropped")]
    SubscriptionPlanChangeDropped,
    #[serde(rename = "subscription.renewed")]
    SubscriptionRenewed,
    #[serde(rename = "subscription.trial_ended")]
    SubscriptionTrialEnded,
    #[serde(rename = "subscription.cancel_scheduled")]
    SubscriptionCancelScheduled,
    #[serde(rename = "subscription.canceled")]
    SubscriptionCanceled,
    #[serde(rename = "subscription.past_due")]
    SubscriptionPastDue,
    /// Not in BILLING.md's list: past_due → active is a state change, so it is audited too
    /// (Stripe reports it as a subscription update). See docs/billing-decisions.md.
    #[serde(rename = "subscription.recovered")]
    SubscriptionRecovered,
    #[serde(rename = "invoice.finalized")]
    InvoiceFinalized,
    #[serde(rename = "invoice.paid")]
    InvoicePaid,
    #[serde(rename = "invoice.voided")]
    InvoiceVoided,
    #[serde(rename = "invoice.uncollectible")]
    InvoiceUncollectible,
    #[serde(rename = "payment.succeeded")]
    PaymentSucceeded,
    #[serde(rename = "payment.failed")]
    PaymentFailed,
    #[serde(rename = "credit_note.created")]
    CreditNoteCreated,
    #[serde(rename = "debit_note.created")]
    DebitNoteCreated,
    #[serde(rename = "token.created")]
    TokenCreated,
    #[serde(rename = "token.revoked")]
    TokenRevoked,
}

/// The kind of entity an audit entry is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EntityType {
    User,
    Plan,
    Subscription,
    Invoice,
    Payment,
    CreditNote,
    Token,
}

impl AuditAction {
    pub const ALL: [AuditAction; 24] = [
        Self::UserCreated,
        Self::UserUpdated,
        Self::PlanCreated,
        Self::PlanArchived,
        Self::SubscriptionCreated,
        Self::SubscriptionPlanChanged,
        Self::SubscriptionPlanChangeScheduled,
        Self::SubscriptionPlanChangeDropped,
        Self::SubscriptionRenewed,
        Self::SubscriptionTrialEnded,
        Self::SubscriptionCancelScheduled,
        Self::SubscriptionCanceled,
        Self::SubscriptionPastDue,
        Self::SubscriptionRecovered,
        Self::InvoiceFinalized,
        Self::InvoicePaid,
        Self::InvoiceVoided,
        Self::InvoiceUncollectible,
        Self::PaymentSucceeded,
        Self::PaymentFailed,
        Self::CreditNoteCreated,
        Self::DebitNoteCreated,
        Self::TokenCreated,
        Self::TokenRevoked,
    ];

    /// The wire name, e.g. `invoice.paid` (also the EventBridge detail-type).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserCreated => "user.created",
            Self::UserUpdated => "user.updated",
            Self::PlanCreated => "plan.created",
            Self::PlanArchived => "plan.archived",
            Self::SubscriptionCreated => "subscription.created",
            Self::SubscriptionPlanChanged => "subscription.plan_changed",
            Self::SubscriptionPlanChangeScheduled => "subscription.plan_change_scheduled",
            Self::SubscriptionPlanChangeDropped => "subscription.plan_change_dropped",
            Self::SubscriptionRenewed => "subscription.renewed",
            Self::SubscriptionTrialEnded => "subscription.trial_ended",
            Self::SubscriptionCancelScheduled => "subscription.cancel_scheduled",
            Self::SubscriptionCanceled => "subscription.canceled",
            Self::SubscriptionPastDue => "subscription.past_due",
            Self::SubscriptionRecovered => "subscription.recovered",
            Self::InvoiceFinalized => "invoice.finalized",
            Self::InvoicePaid => "invoice.paid",
            Self::InvoiceVoided => "invoice.voided",
            Self::InvoiceUncollectible => "invoice.uncollectible",
            Self::PaymentSucceeded => "payment.succeeded",
            Self::PaymentFailed => "payment.failed",
            Self::CreditNoteCreated => "credit_note.created",
            Self::DebitNoteCreated => "debit_note.created",
            Self::TokenCreated => "token.created",
            Self::TokenRevoked => "token.revoked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == text)
    }

    pub fn entity_type(self) -> EntityType {
        match self {
            Self::UserCreated | Self::UserUpdated => EntityType::User,
            Self::PlanCreated | Self::PlanArchived => EntityType::Plan,
            Self::SubscriptionCreated
            | Self::SubscriptionPlanChanged
            | Self::SubscriptionPlanChangeScheduled
            | Self::SubscriptionPlanChangeDropped
            | Self::SubscriptionRenewed
            | Self::SubscriptionTrialEnded
            | Self::SubscriptionCancelScheduled
            | Self::SubscriptionCanceled
            | Self::SubscriptionPastDue
            | Self::SubscriptionRecovered => EntityType::Subscription,
            Self::InvoiceFinalized
            | Self::InvoicePaid
            | Self::InvoiceVoided
            | Self::InvoiceUncollectible
            | Self::DebitNoteCreated => EntityType::Invoice,
            Self::PaymentSucceeded | Self::PaymentFailed => EntityType::Payment,
            Self::CreditNoteCreated => EntityType::CreditNote,
            Self::TokenCreated | Self::TokenRevoked => EntityType::Token,
        }
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn wire_names_round_trip_through_parse_and_serde() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()), Some(action));
            assert_eq!(
                serde_json::to_string(&action).unwrap(),
                format!("\"{}\"", action.as_str())
            );
        }
        assert_eq!(AuditAction::parse("invoice.exploded"), None);
    }
}
