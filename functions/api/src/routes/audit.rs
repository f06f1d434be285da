//! `GET /v1/audit?entity_id=&action=` (read): the audit log, newest first.

use axum::extract::State;
use billing_core::Timestamp;
use billing_core::audit::AuditAction;
use billing_ledger::{AuditEntry, AuditFilter};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Page, PageParams, Paged, Reply};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    pub entity_id: Option<String>,
    pub action: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub id: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    /// `token:tok_…`, `system:invoice-run`, `webhook:stripe`…
    pub actor: String,
    /// e.g. `invoice.paid`.
    #[schema(value_type = AuditAction)]
    pub action: &'static str,
    /// e.g. `invoice`.
    pub entity_type: billing_core::audit::EntityType,
    pub entity_id: String,
    /// What changed: the entry's own fields, which differ by action.
    #[schema(value_type = Object, additional_properties = true)]
    pub data: serde_json::Value,
}

impl From<AuditEntry> for AuditEntryView {
    fn from(entry: AuditEntry) -> Self {
        Self {
            id: entry.id,
            at: entry.at,
            actor: entry.actor,
            action: entry.action.as_str(),
            entity_type: entry.entity_type,
            entity_id: entry.entity_id,
            data: entry.data,
        }
    }
}

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(list_audit))
}

#[utoipa::path(
    get,
    path = "/v1/audit",
    tag = "audit",
    params(
        ("entity_id" = Option<String>, Query, description = "Entries of this entity"),
        ("action" = Option<AuditAction>, Query, description = "Entries of this action, e.g. `invoice.paid`"),
        PageParams,
    ),
    responses(
        (status = 200, description = "Audit entries, newest first", body = Page<AuditEntryView>),
        (status = 400, description = "Unknown action, bad limit or cursor", body = ErrorEnvelope),
    )
)]
async fn list_audit(
    State(state): State<ApiState>,
    paged: Paged<AuditQuery>,
) -> Result<Reply<Page<AuditEntryView>>, ApiError> {
    let action = match paged.filters.action.as_deref() {
        None => None,
        Some(text) => Some(AuditAction::parse(text).ok_or_else(|| {
            ApiError::invalid(
                "unknown_action",
                format!("unknown audit action {text:?}"),
                Some("action".to_owned()),
            )
        })?),
    };
    let filter = AuditFilter {
        entity_id: paged.filters.entity_id,
        action,
    };
    let listing = billing_app::audit::list_audit(&state.app, &filter, &paged.page).await?;
    Ok(Reply::ok(Page::of(listing, AuditEntryView::from)))
}
