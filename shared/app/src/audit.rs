//! The audit log (API.md `GET /v1/audit`): every change's entry, newest first, read like every
//! other list.

use billing_ledger::{AuditEntry, AuditFilter, Listing, PageRequest};

use crate::context::App;
use crate::error::AppError;

/// Audit entries matching `filter` (an entity, an action), newest first.
pub async fn list_audit(
    app: &App,
    filter: &AuditFilter,
    page: &PageRequest,
) -> Result<Listing<AuditEntry>, AppError> {
    Ok(app.ledger.audit(filter, page).await?)
}
