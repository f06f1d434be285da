//! `POST /v1/webhooks/stripe`: open, but signed (`Stripe-Signature`, checked against
//! `STRIPE_WEBHOOK_SECRET` and the billing clock). A redelivered event answers 200 and changes
//! nothing.

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use billing_app::webhooks::{self, WebhookOutcome};
use billing_stripe::webhook as stripe_webhook;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::error::{ApiError, ErrorEnvelope};
use crate::extract::{Reply, read_body};

#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    pub received: bool,
    /// False when this event id was processed before.
    pub processed: bool,
}

pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(stripe))
}

#[utoipa::path(post, path = "/v1/webhooks/stripe", tag = "webhooks",
    request_body(content = Object, content_type = "application/json", description = "The Stripe event, exactly as Stripe sent and signed it"),
    params(("Stripe-Signature" = String, Header, description = "t=…,v1=… (HMAC-SHA256 of \"{t}.{body}\")")),
    responses((status = 200, body = Received), (status = 400, description = "Bad or stale signature", body = ErrorEnvelope)))]
async fn stripe(
    State(state): State<ApiState>,
    headers: HeaderMap,
    request: Request,
) -> Result<Reply<Received>, ApiError> {
    // Read as the JSON routes read theirs, so a body over the limit is the envelope's 413
    // (axum's `Bytes` extractor would answer it in plain text).
    let body = read_body(request, &state).await?;
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let secret = state
        .config
        .stripe_webhook_secret
        .as_ref()
        .map(|s| s.expose().to_owned())
        .unwrap_or_default();
    if secret.is_empty() {
        return Err(ApiError::invalid(
            "invalid_signature",
            "no webhook secret is configured (STRIPE_WEBHOOK_SECRET)",
            Some("Stripe-Signature".to_owned()),
        ));
    }
    let now = state.app.clock.now().await?;
    stripe_webhook::verify_signature(&secret, signature, &body, now)?;
    let event = stripe_webhook::decode_event(&body)?;
    let outcome = webhooks::handle_payment_event(&state.app, &event).await?;
    Ok(Reply::ok(Received {
        received: true,
        processed: outcome == WebhookOutcome::Processed,
    }))
}
