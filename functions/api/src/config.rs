//! The API's configuration, read once at start-up from the environment. Every error names the
//! variable at fault; the admin token is wrapped so it never reaches a log.

use std::fmt;

/// Largest request body accepted by default (API.md limits batches to 1000 usage events,
/// which fit well within this).
pub const BODY_LIMIT_BYTES_DEFAULT: usize = 1024 * 1024;
/// Largest body limit configuration may ask for: DynamoDB items (idempotent replays) and
/// API Gateway payloads stay far below anything larger.
pub const BODY_LIMIT_BYTES_MAX: usize = 6 * 1024 * 1024;
/// Usage requests per second per token unless configured (API.md).
pub const USAGE_RATE_LIMIT_DEFAULT: u32 = 1000;

pub const ADMIN_TOKEN_VAR: &str = "BILLING_ADMIN_TOKEN";
pub const TEST_CLOCK_VAR: &str = "BILLING_TEST_CLOCK";
pub const USAGE_RATE_LIMIT_VAR: &str = "BILLING_USAGE_RATE_LIMIT";
pub const BODY_LIMIT_VAR: &str = "BILLING_BODY_LIMIT_BYTES";
pub const STRIPE_WEBHOOK_SECRET_VAR: &str = "STRIPE_WEBHOOK_SECRET";
/// How long `POST /v1/invoice-runs` and `/v1/payment-runs` run inside the request before they
/// answer 202 and go on over the runners' work queues (milliseconds). Unset: they finish
/// within the request (billing-local). The Lambda sets it below API Gateway's 29 s.
pub const RUN_REQUEST_BUDGET_VAR: &str = "BILLING_RUN_REQUEST_BUDGET_MS";

/// A secret value: `Debug` shows a placeholder and there is no `Display`, so neither a log
/// line nor a panic message can print it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// The bootstrap admin token (API.md "Auth").
    pub admin_token: Secret,
    /// Serves `/v1/test-clock` (otherwise 404).
    pub test_clock_enabled: bool,
    /// `POST /v1/usage` requests per second per token; the burst is twice this.
    pub usage_rate_limit_per_second: u32,
    pub body_limit_bytes: usize,
    /// `STRIPE_WEBHOOK_SECRET`: signs `/v1/webhooks/stripe`; without it every delivery is refused.
    pub stripe_webhook_secret: Option<Secret>,
    /// `BILLING_RUN_REQUEST_BUDGET_MS`: how long a run started from the API runs in the request.
    pub run_request_budget: Option<std::time::Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {problem}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl ApiConfig {
    /// Defaults for everything but the admin token (tests, the local runner).
    pub fn new(admin_token: Secret) -> Self {
        Self {
            admin_token,
            test_clock_enabled: false,
            usage_rate_limit_per_second: USAGE_RATE_LIMIT_DEFAULT,
            body_limit_bytes: BODY_LIMIT_BYTES_DEFAULT,
            stripe_webhook_secret: None,
            run_request_budget: None,
        }
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let admin_token = match lookup(ADMIN_TOKEN_VAR) {
            Some(token) if token.trim().is_empty() => {
                return Err(problem(ADMIN_TOKEN_VAR, "must not be empty"));
            }
            Some(token) if token.chars().any(char::is_whitespace) => {
                return Err(problem(ADMIN_TOKEN_VAR, "must not contain whitespace"));
            }
            Some(token) => Secret::new(token),
            None => return Err(problem(ADMIN_TOKEN_VAR, "is not set")),
        };
        let test_clock_enabled = match lookup(TEST_CLOCK_VAR).as_deref() {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(problem(
                    TEST_CLOCK_VAR,
                    format!("expected true or false, got {other:?}"),
                ));
            }
        };
        let usage_rate_limit_per_second = match lookup(USAGE_RATE_LIMIT_VAR) {
            None => USAGE_RATE_LIMIT_DEFAULT,
            Some(text) => match text.trim().parse::<u32>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(problem(
                        USAGE_RATE_LIMIT_VAR,
                        format!(
                            "expected a positive whole number of requests per second, got {text:?}"
                        ),
                    ));
                }
            },
        };
        let body_limit_bytes = match lookup(BODY_LIMIT_VAR) {
            None => BODY_LIMIT_BYTES_DEFAULT,
            Some(text) => match text.trim().parse::<usize>() {
                Ok(n) if (1..=BODY_LIMIT_BYTES_MAX).contains(&n) => n,
                _ => {
                    return Err(problem(
                        BODY_LIMIT_VAR,
                        format!(
                            "expected a number of bytes from 1 to {BODY_LIMIT_BYTES_MAX}, got {text:?}"
                        ),
                    ));
                }
            },
        };
        let stripe_webhook_secret = lookup(STRIPE_WEBHOOK_SECRET_VAR)
            .filter(|secret| !secret.trim().is_empty())
            .map(Secret::new);
        let run_request_budget = match lookup(RUN_REQUEST_BUDGET_VAR) {
            None => None,
            Some(text) if text.trim().is_empty() => None,
            Some(text) => match text.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => Some(std::time::Duration::from_millis(ms)),
                _ => {
                    return Err(problem(
                        RUN_REQUEST_BUDGET_VAR,
                        format!("expected a positive number of milliseconds, got {text:?}"),
                    ));
                }
            },
        };
        Ok(Self {
            admin_token,
            test_clock_enabled,
            usage_rate_limit_per_second,
            body_limit_bytes,
            stripe_webhook_secret,
            run_request_budget,
        })
    }
}

fn problem(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn read(vars: &[(&str, &str)]) -> Result<ApiConfig, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ApiConfig::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_and_the_admin_token_never_prints() {
        let config = read(&[(ADMIN_TOKEN_VAR, "sk_very_secret")]).unwrap();
        assert!(!config.test_clock_enabled);
        assert_eq!(config.usage_rate_limit_per_second, USAGE_RATE_LIMIT_DEFAULT);
        assert_eq!(config.body_limit_bytes, BODY_LIMIT_BYTES_DEFAULT);
        assert!(!format!("{config:?}").contains("sk_very_secret"));
    }

    #[test]
    fn every_error_names_its_variable() {
        assert_eq!(read(&[]).unwrap_err().variable, ADMIN_TOKEN_VAR);
        let token = (ADMIN_TOKEN_VAR, "t");
        for (variable, value) in [
            (TEST_CLOCK_VAR, "yes"),
            (USAGE_RATE_LIMIT_VAR, "0"),
            (USAGE_RATE_LIMIT_VAR, "fast"),
            (BODY_LIMIT_VAR, "0"),
            (BODY_LIMIT_VAR, "99999999999"),
            (RUN_REQUEST_BUDGET_VAR, "0"),
            (RUN_REQUEST_BUDGET_VAR, "soon"),
        ] {
            let error = read(&[token, (variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable);
            assert!(error.to_string().starts_with(variable));
        }
        assert!(
            read(&[token, (TEST_CLOCK_VAR, "true")])
                .unwrap()
                .test_clock_enabled
        );
    }
}
