//! Idempotency-Key records (API.md): per (token, key), kept 24 hours (TTL). The first request
//! takes the key; a retry with the same body gets the stored response; a different body is
//! `key_reused`; a retry while the first still runs is `request_in_progress`. A request whose
//! process died holds the key only until its lock expires, not for 24 hours.

use billing_store::{Condition, StoreError};

use crate::error::{LedgerError, Result};
use crate::keys;
use crate::ledger::Ledger;
use crate::record::{n, number_attribute, required, s, string_attribute, to_item};

/// How long an idempotency record lives.
pub const IDEMPOTENCY_TTL_SECONDS: i64 = 24 * 60 * 60;

/// A response as it was first answered, to replay byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyStart {
    /// The key is this request's: run it, then [`Ledger::finish_request`].
    Started,
    /// The same request already finished: answer this again.
    Replay(StoredResponse),
    /// The same key with another body.
    KeyReused,
    /// The first request with this key is still running.
    InProgress,
}

const IN_PROGRESS: &str = "in_progress";
const DONE: &str = "done";

impl Ledger {
    /// Takes `key` for a request whose body hashes to `request_hash`, or says why not.
    pub async fn begin_request(
        &self,
        token_id: &str,
        key: &str,
        request_hash: &str,
        now_epoch: i64,
        lock_seconds: i64,
    ) -> Result<IdempotencyStart> {
        let record = |expires_at: i64| {
            to_item(
                "idempotency",
                &serde_json::json!({"request_hash": request_hash, "state": IN_PROGRESS}),
                &keys::idempotency(token_id, key),
                None,
                vec![
                    ("locked_until", n(now_epoch + lock_seconds)),
                    ("expires_at", n(expires_at)),
                ],
            )
        };
        let first = record(now_epoch + IDEMPOTENCY_TTL_SECONDS)?;
        match self.table.put(first, Condition::NotExists).await {
            Ok(()) => return Ok(IdempotencyStart::Started),
            Err(StoreError::ConditionFailed) => {}
            Err(error) => return Err(error.into()),
        }
        let Some(existing) = self.table.get(&keys::idempotency(token_id, key)).await? else {
            // Expired between the two calls: the key is free again; let the client retry.
            return Ok(IdempotencyStart::InProgress);
        };
        const ENTITY: &str = "idempotency";
        let text = |name: &str| string_attribute(ENTITY, &existing, name);
        let number = |name: &str| number_attribute(ENTITY, &existing, name);
        if text("request_hash")?.as_deref() != Some(request_hash) {
            return Ok(IdempotencyStart::KeyReused);
        }
        if text("state")?.as_deref() == Some(DONE) {
            // A stored response is replayed exactly or not at all: one with a field missing is
            // corruption (a 5xx without internals), never a made-up 500 with an empty body.
            let status = required(
                ENTITY,
                &existing,
                "response_status",
                number("response_status")?,
            )?;
            let status = u16::try_from(status)
                .ok()
                .filter(|s| (100..600).contains(s))
                .ok_or_else(|| {
                    LedgerError::corrupt(ENTITY, &existing, format!("response_status {status}"))
                })?;
            let body = required(ENTITY, &existing, "response_body", text("response_body")?)?;
            return Ok(IdempotencyStart::Replay(StoredResponse { status, body }));
        }
        let locked_until = required(ENTITY, &existing, "locked_until", number("locked_until")?)?;
        if locked_until > now_epoch {
            return Ok(IdempotencyStart::InProgress);
        }
        // The first request died holding the key: take it over, if nobody else just did.
        let expires_at = number("expires_at")?.unwrap_or(now_epoch + IDEMPOTENCY_TTL_SECONDS);
        match self
            .table
            .put(
                record(expires_at)?,
                Condition::AttributeEquals("locked_until".into(), n(locked_until)),
            )
            .await
        {
            Ok(()) => Ok(IdempotencyStart::Started),
            Err(StoreError::ConditionFailed) => Ok(IdempotencyStart::InProgress),
            Err(error) => Err(error.into()),
        }
    }

    /// Stores the response of the request that holds `key`, for replays within 24 hours.
    pub async fn finish_request(
        &self,
        token_id: &str,
        key: &str,
        request_hash: &str,
        response: &StoredResponse,
        now_epoch: i64,
    ) -> Result<()> {
        let item = to_item(
            "idempotency",
            &serde_json::json!({
                "request_hash": request_hash,
                "state": DONE,
                "response_body": response.body,
            }),
            &keys::idempotency(token_id, key),
            None,
            vec![
                ("response_status", n(response.status)),
                ("expires_at", n(now_epoch + IDEMPOTENCY_TTL_SECONDS)),
            ],
        )?;
        self.table
            .put(
                item,
                Condition::AttributeEquals("request_hash".into(), s(request_hash)),
            )
            .await
            .map_err(LedgerError::from)
    }

    /// Frees `key` after a request that must not be replayed (it failed unexpectedly), so a
    /// retry runs it again.
    pub async fn abandon_request(&self, token_id: &str, key: &str) -> Result<()> {
        self.table
            .delete(&keys::idempotency(token_id, key), Condition::Always)
            .await
            .map_err(LedgerError::from)
    }
}
