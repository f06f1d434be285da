//! The Stripe implementation of the payment gateway port ([`PaymentGateway`], name `stripe`).
//!
//! One charge is one PaymentIntent, created and confirmed at once, off-session (the customer is
//! not there to authenticate): `POST {api_base}/v1/payment_intents` with the attempt's
//! idempotency key as Stripe's `Idempotency-Key`, so asking again for the same attempt (a
//! transient error retried, a crash between the call and the write) is the same charge. How
//! Stripe's answers become outcomes is [`outcome_from_response`]; a payment Stripe decides later
//! (`processing`) is completed by the Stripe webhook: [`webhook`] checks its signature and
//! decodes it into the app's gateway-neutral `PaymentEvent`, with the same decline mapping.
//!
//! The HTTP client is hyper's (the one the AWS SDK's client runs on here too), over rustls with
//! the ring provider given to it rather than installed process-wide, so it does not depend on
//! what else in the process set a default, and aws-lc-rs is never built; servers are verified
//! against the system's root certificates. (reqwest with `rustls-no-provider` was the first idea: that feature
//! is unified into every reqwest of a workspace build, and there reqwest's default client panics
//! without a process-wide provider — the API's and the local runner's tests build one.)

mod outcome;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use billing_app::ports::{ChargeOutcome, ChargeRequest, PaymentGateway, SimulatedGateway};
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub use outcome::outcome_from_response;

/// The gateway's name: `BILLING_PAYMENT_GATEWAY=stripe`, and the gateway recorded on its payments.
pub const GATEWAY_NAME: &str = "stripe";

/// Where the secret API key comes from.
pub const API_KEY_VAR: &str = "STRIPE_API_KEY";
/// Where a different API base (stripe-mock in tests) comes from.
pub const API_BASE_VAR: &str = "STRIPE_API_BASE";
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";
/// Long enough for a card network round trip; a timeout is retried with the same idempotency
/// key, so a slow charge that did go through is not charged twice.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The API version the request and the mapping were written against (the one stripe-mock
/// v0.203.0 validates with). Pinned so an account's default version cannot change the shape of
/// the answers under us.
pub const STRIPE_API_VERSION: &str = "2026-08-26.dahlia";
/// Stripe's answers are a few kilobytes; a larger one is not Stripe's.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Why the gateway could not be set up. Charging itself never fails: every answer, or the lack
/// of one, is a [`ChargeOutcome`].
#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("{variable} is not set: the stripe payment gateway needs a Stripe secret API key")]
    MissingApiKey { variable: &'static str },
    /// The key is not shown: it is a secret.
    #[error("the Stripe API key is not usable in an HTTP header (it must be printable ASCII)")]
    InvalidApiKey,
    #[error("the Stripe API base {value:?} ({API_BASE_VAR}) is not usable: {reason}")]
    InvalidApiBase { value: String, reason: String },
    #[error("cannot set up TLS for Stripe: {0}")]
    Tls(#[from] rustls::Error),
    /// Set `SSL_CERT_FILE` or install the system's CA certificates (`ca-certificates`).
    #[error("no trusted root certificates found on this system, so Stripe's cannot be verified")]
    NoRootCertificates,
    #[error("{GATEWAY_VAR}: expected simulated or stripe, got {0:?}")]
    UnknownGateway(String),
}

/// Chooses the payment gateway (API.md "Local runner").
pub const GATEWAY_VAR: &str = "BILLING_PAYMENT_GATEWAY";

/// The payment gateway `BILLING_PAYMENT_GATEWAY` names: `simulated` (the default, BILLING.md's
/// rules) or `stripe` (configured by `STRIPE_API_KEY` and `STRIPE_API_BASE`). Shared by the
/// local runner and every Lambda that charges, so they choose alike.
pub fn gateway_from_lookup(
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<Arc<dyn PaymentGateway>, StripeError> {
    match lookup(GATEWAY_VAR).as_deref().map(str::trim) {
        None | Some("" | "simulated") => Ok(Arc::new(SimulatedGateway::default())),
        Some("stripe") => Ok(Arc::new(StripeGateway::new(StripeConfig::from_lookup(
            lookup,
        )?)?)),
        Some(other) => Err(StripeError::UnknownGateway(other.to_owned())),
    }
}

/// How to reach Stripe. `Debug` never shows the key.
#[derive(Clone)]
pub struct StripeConfig {
    pub api_key: String,
    /// Without a trailing `/v1`: `https://api.stripe.com`, or stripe-mock's `http://127.0.0.1:N`.
    pub api_base: String,
    /// For the whole request, answer included.
    pub timeout: Duration,
}

impl std::fmt::Debug for StripeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeConfig")
            .field("api_key", &"[redacted]")
            .field("api_base", &self.api_base)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl StripeConfig {
    /// Stripe's own API base and the default timeout.
    pub fn new(api_key: impl Into<String>) -> Self {
        Self {
            api_key: api_key.into(),
            api_base: DEFAULT_API_BASE.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// `STRIPE_API_KEY` (required) and `STRIPE_API_BASE` (optional).
    pub fn from_env() -> Result<Self, StripeError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`StripeConfig::from_env`], reading variables through `lookup` (tests cannot set the
    /// process environment safely). Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, StripeError> {
        let read = |name| lookup(name).filter(|value: &String| !value.trim().is_empty());
        let api_key = read(API_KEY_VAR).ok_or(StripeError::MissingApiKey {
            variable: API_KEY_VAR,
        })?;
        let mut config = Self::new(api_key.trim());
        if let Some(base) = read(API_BASE_VAR) {
            config.api_base = base.trim().to_owned();
        }
        Ok(config)
    }
}

/// The gateway. Cheap to share: one connection pool for every charge.
pub struct StripeGateway {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    payment_intents_url: http::Uri,
    authorization: HeaderValue,
    timeout: Duration,
    api_key: String,
}

impl std::fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeGateway")
            .field("payment_intents_url", &self.payment_intents_url)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Why there was no answer to read.
enum NoAnswer {
    /// The request could not even be built: only an idempotency key that is not a valid header
    /// value can do that, and asking again cannot fix it.
    Unsendable(http::Error),
    TimedOut,
    Request(hyper_util::client::legacy::Error),
    Body(Box<dyn std::error::Error + Send + Sync>),
}

impl StripeGateway {
    pub fn new(config: StripeConfig) -> Result<Self, StripeError> {
        let payment_intents_url = payment_intents_url(&config.api_base)?;

        let mut authorization = HeaderValue::try_from(format!("Bearer {}", config.api_key))
            .map_err(|_| StripeError::InvalidApiKey)?;
        // Kept out of hyper's debug output.
        authorization.set_sensitive(true);

        let tls = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(root_certificates(&payment_intents_url)?)
        .with_no_client_auth();
        let mut http = HttpConnector::new();
        // The HTTPS connector below decides the scheme; plain HTTP is for stripe-mock.
        http.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new()).build(connector);
        Ok(Self {
            client,
            payment_intents_url,
            authorization,
            timeout: config.timeout,
            api_key: config.api_key,
        })
    }

    /// Sends `params` to `POST /v1/payment_intents` with `idempotency_key` and maps the answer.
    /// This is the call [`PaymentGateway::charge`] makes with [`payment_intent_params`]; it is
    /// public so tests can prove that a malformed request is reported, not mistaken for a
    /// charge.
    pub async fn create_payment_intent(
        &self,
        idempotency_key: &str,
        params: &[(String, String)],
    ) -> ChargeOutcome {
        let (status, request_id, body) = match self.post(idempotency_key, params).await {
            Ok(answer) => answer,
            Err(no_answer) => return self.no_answer(no_answer),
        };
        let answer = outcome::interpret(status, &body);
        if let Some(problem) = answer.problem {
            tracing::error!(
                %idempotency_key,
                status,
                %request_id,
                problem = %redact(&problem, &self.api_key),
                "stripe charge failed on our side"
            );
        }
        answer.outcome
    }

    /// The answer's status, `Request-Id` (for Stripe's support) and body.
    async fn post(
        &self,
        idempotency_key: &str,
        params: &[(String, String)],
    ) -> Result<(u16, String, String), NoAnswer> {
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let request = http::Request::post(self.payment_intents_url.clone())
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header("Stripe-Version", STRIPE_API_VERSION)
            .header("Idempotency-Key", idempotency_key)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .header(
                header::USER_AGENT,
                concat!("billing-stripe/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(form)))
            .map_err(NoAnswer::Unsendable)?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(NoAnswer::Request)?;
            let status = response.status().as_u16();
            let request_id = response
                .headers()
                .get("Request-Id")
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
                .collect()
                .await
                .map_err(NoAnswer::Body)?
                .to_bytes();
            Ok((
                status,
                request_id,
                String::from_utf8_lossy(&body).into_owned(),
            ))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or(Err(NoAnswer::TimedOut))
    }

    /// A timeout, a refused or broken connection, a body cut short: Stripe may or may not have
    /// charged, and asking again with the same idempotency key finds out without charging twice.
    fn no_answer(&self, no_answer: NoAnswer) -> ChargeOutcome {
        let mut message = "stripe request ".to_owned();
        let mut source: Option<&dyn std::error::Error> = match &no_answer {
            NoAnswer::Unsendable(error) => {
                tracing::error!(%error, "cannot build the request to Stripe");
                return ChargeOutcome::Declined {
                    code: "invalid_idempotency_key".to_owned(),
                    gateway_txn_id: None,
                };
            }
            NoAnswer::TimedOut => {
                message.push_str(&format!("timed out after {:?}", self.timeout));
                None
            }
            NoAnswer::Request(error) if error.is_connect() => {
                message.push_str("could not connect");
                std::error::Error::source(error)
            }
            NoAnswer::Request(error) => {
                message.push_str("failed");
                std::error::Error::source(error)
            }
            NoAnswer::Body(error) => {
                message.push_str("failed reading the answer");
                Some(error.as_ref())
            }
        };
        // The causes say why (refused, reset, DNS, TLS); none of them holds a header.
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        ChargeOutcome::Transient {
            message: redact(&message, &self.api_key),
        }
    }
}

/// The form `charge` sends for `request`. Off-session and confirmed at once; redirects are
/// refused because nobody is there to follow one (and Stripe otherwise asks for a
/// `return_url`). The metadata lets the webhook and a human find the invoice and the attempt.
pub fn payment_intent_params(request: &ChargeRequest) -> Vec<(String, String)> {
    let mut params = vec![
        ("amount".to_owned(), request.amount_cents.to_string()),
        ("currency".to_owned(), request.currency.to_lowercase()),
    ];
    if let Some(payment_method) = &request.payment_method {
        params.push(("payment_method".to_owned(), payment_method.clone()));
    }
    for (name, value) in [
        ("confirm", "true"),
        ("off_session", "true"),
        ("automatic_payment_methods[enabled]", "true"),
        ("automatic_payment_methods[allow_redirects]", "never"),
        ("metadata[invoice_id]", &request.invoice_id),
        ("metadata[user_id]", &request.user_id),
        ("metadata[attempt_key]", &request.idempotency_key),
    ] {
        params.push((name.to_owned(), value.to_owned()));
    }
    params
}

#[async_trait]
impl PaymentGateway for StripeGateway {
    fn name(&self) -> &'static str {
        GATEWAY_NAME
    }

    async fn charge(&self, request: &ChargeRequest) -> ChargeOutcome {
        // BILLING.md: a user without a payment method declines with `no_payment_method`.
        // Stripe is not asked: without a payment method it could only charge a customer's
        // default source, which this system never sets up.
        if request
            .payment_method
            .as_deref()
            .is_none_or(|method| method.trim().is_empty())
        {
            return ChargeOutcome::Declined {
                code: "no_payment_method".to_owned(),
                gateway_txn_id: None,
            };
        }
        self.create_payment_intent(&request.idempotency_key, &payment_intent_params(request))
            .await
    }
}

/// The system's trusted roots (as the AWS SDK's client loads them: `SSL_CERT_FILE`,
/// `SSL_CERT_DIR`, else the OS store). Unreadable entries are skipped; none at all is an error
/// for an https base, found now rather than at the first charge.
fn root_certificates(url: &http::Uri) -> Result<rustls::RootCertStore, StripeError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for error in &found.errors {
        tracing::warn!(%error, "skipping unreadable root certificates");
    }
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() && url.scheme_str() == Some("https") {
        return Err(StripeError::NoRootCertificates);
    }
    Ok(roots)
}

fn payment_intents_url(api_base: &str) -> Result<http::Uri, StripeError> {
    let invalid = |reason: &str| StripeError::InvalidApiBase {
        value: api_base.to_owned(),
        reason: reason.to_owned(),
    };
    if api_base.contains(['?', '#']) {
        return Err(invalid("a base URL has no query or fragment"));
    }
    let base: http::Uri = api_base
        .parse()
        .map_err(|error: http::uri::InvalidUri| invalid(&error.to_string()))?;
    if !matches!(base.scheme_str(), Some("https" | "http")) {
        return Err(invalid(
            "the scheme must be https (or http for stripe-mock)",
        ));
    }
    match base.authority() {
        None => return Err(invalid("there is no host")),
        Some(authority) if authority.as_str().contains('@') => {
            return Err(invalid("credentials go in STRIPE_API_KEY, not in the URL"));
        }
        Some(_) => {}
    }
    // Keeps a path prefix (a proxy's), whether or not the base ends with a slash.
    format!("{}/v1/payment_intents", api_base.trim_end_matches('/'))
        .parse()
        .map_err(|error: http::uri::InvalidUri| invalid(&error.to_string()))
}

/// Stripe masks keys in its messages, but stripe-mock (and any proxy) may echo the header.
fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "[redacted]")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn lookup<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn the_gateway_is_chosen_by_billing_payment_gateway() {
        let name = |vars: &[(&str, &str)]| gateway_from_lookup(lookup(vars)).map(|g| g.name());
        assert_eq!(name(&[]).unwrap(), "simulated");
        assert_eq!(name(&[(GATEWAY_VAR, "simulated")]).unwrap(), "simulated");
        assert_eq!(
            name(&[(GATEWAY_VAR, "stripe"), (API_KEY_VAR, "sk_test_123")]).unwrap(),
            "stripe"
        );
        assert!(matches!(
            name(&[(GATEWAY_VAR, "stripe")]),
            Err(StripeError::MissingApiKey { .. })
        ));
        let unknown = name(&[(GATEWAY_VAR, "paypal")]).unwrap_err();
        assert_eq!(
            unknown.to_string(),
            "BILLING_PAYMENT_GATEWAY: expected simulated or stripe, got \"paypal\""
        );
    }

    #[test]
    fn the_environment_needs_a_key_and_names_its_variable() {
        for vars in [&[][..], &[(API_KEY_VAR, " ")][..]] {
            let error = StripeConfig::from_lookup(lookup(vars)).unwrap_err();
            assert!(matches!(error, StripeError::MissingApiKey { .. }));
            assert!(error.to_string().contains("STRIPE_API_KEY"), "{error}");
        }
    }

    #[test]
    fn the_environment_may_point_at_another_api_base() {
        let config = StripeConfig::from_lookup(lookup(&[(API_KEY_VAR, "sk_test_123")])).unwrap();
        assert_eq!(config.api_key, "sk_test_123");
        assert_eq!(config.api_base, DEFAULT_API_BASE);
        assert_eq!(config.timeout, DEFAULT_TIMEOUT);

        let config = StripeConfig::from_lookup(lookup(&[
            (API_KEY_VAR, "sk_test_123"),
            (API_BASE_VAR, "http://127.0.0.1:12111"),
        ]))
        .unwrap();
        assert_eq!(config.api_base, "http://127.0.0.1:12111");
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let config = StripeConfig::new("sk_live_secret_value");
        assert!(!format!("{config:?}").contains("sk_live_secret_value"));
        let gateway = StripeGateway::new(config).unwrap();
        assert!(!format!("{gateway:?}").contains("sk_live_secret_value"));
    }

    #[test]
    fn the_endpoint_is_under_the_api_base() {
        for (base, url) in [
            (
                "https://api.stripe.com",
                "https://api.stripe.com/v1/payment_intents",
            ),
            (
                "http://127.0.0.1:12111/",
                "http://127.0.0.1:12111/v1/payment_intents",
            ),
            (
                "https://proxy.example/stripe",
                "https://proxy.example/stripe/v1/payment_intents",
            ),
        ] {
            assert_eq!(payment_intents_url(base).unwrap().to_string(), url);
        }
        for base in [
            "api.stripe.com",
            "ftp://api.stripe.com",
            "https://api.stripe.com?x=1",
            "https://api.stripe.com#v1",
            "https://sk_live_1:@api.stripe.com",
            "https://",
        ] {
            let error = payment_intents_url(base).unwrap_err();
            assert!(
                matches!(error, StripeError::InvalidApiBase { .. }),
                "{base}"
            );
        }
    }

    #[test]
    fn a_key_that_cannot_be_a_header_is_refused_without_being_shown() {
        let error = StripeGateway::new(StripeConfig::new("sk_test_\nline")).unwrap_err();
        assert!(matches!(error, StripeError::InvalidApiKey));
        assert!(!error.to_string().contains("sk_test_"));
    }

    #[test]
    fn the_form_carries_the_charge_and_the_attempt() {
        let request = ChargeRequest {
            invoice_id: "inv_1".into(),
            user_id: "usr_1".into(),
            amount_cents: 2900,
            currency: "USD".into(),
            payment_method: Some("pm_card_visa".into()),
            idempotency_key: "inv_1-attempt-2".into(),
        };
        let params = payment_intent_params(&request);
        let expected = [
            ("amount", "2900"),
            ("currency", "usd"),
            ("payment_method", "pm_card_visa"),
            ("confirm", "true"),
            ("off_session", "true"),
            ("automatic_payment_methods[enabled]", "true"),
            ("automatic_payment_methods[allow_redirects]", "never"),
            ("metadata[invoice_id]", "inv_1"),
            ("metadata[user_id]", "usr_1"),
            ("metadata[attempt_key]", "inv_1-attempt-2"),
        ];
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        assert_eq!(params, expected);
    }

    #[test]
    fn redaction_removes_every_copy_of_the_key() {
        let text = "Authorization was 'Bearer sk_test_abc' (sk_test_abc)";
        assert_eq!(
            redact(text, "sk_test_abc"),
            "Authorization was 'Bearer [redacted]' ([redacted])"
        );
        assert_eq!(redact(text, ""), text);
    }
}
