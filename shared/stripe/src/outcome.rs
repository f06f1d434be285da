//! How Stripe's answer to `POST /v1/payment_intents` (create and confirm, off-session) becomes a
//! [`ChargeOutcome`]. Pure: no I/O, no clock, so every row of the table is tested on its own.

use billing_app::ports::ChargeOutcome;
use serde::Deserialize;

/// The declined code when Stripe says the payment failed without saying why.
const GENERIC_DECLINE: &str = "card_declined";

/// Maps Stripe's HTTP status and body to the outcome of the charge.
///
/// | Stripe's answer | outcome |
/// | --- | --- |
/// | 2xx, PaymentIntent `status: succeeded` | `Succeeded { gateway_txn_id: <pi id> }` |
/// | 2xx, `processing` (bank debits: decided later, by the webhook) | `Pending { gateway_txn_id: <pi id> }` |
/// | 2xx, `requires_payment_method` or `canceled` | `Declined { last_payment_error.decline_code`, else `.code`, else `card_declined`, `Some(<pi id>) }` |
/// | 2xx, `requires_action` or `requires_confirmation` (off-session: nobody can authenticate) | `Declined { authentication_required, Some(<pi id>) }` |
/// | 2xx, any other status (`requires_capture`: manual capture is never asked for) | `Declined { unexpected_payment_intent_status, Some(<pi id>) }`, logged as an error |
/// | 2xx, a body that is not a PaymentIntent | `Transient` (asking again with the same idempotency key replays Stripe's answer), logged as an error |
/// | 429, any 5xx | `Transient` |
/// | error `code: idempotency_key_in_use` or `lock_timeout` (a concurrent request holds the key or the object) | `Transient`: once it finishes, the same key gets its answer |
/// | error `type: idempotency_error` (409: the key was used with other parameters) | `Declined { idempotency_error }`, logged as an error: asking again cannot fix it |
/// | 402, or error `type: card_error` | `Declined { error.decline_code`, else `error.code`, else `card_declined`, `error.payment_intent.id }` |
/// | any other 4xx (`invalid_request_error`, a bad or restricted key) | `Declined { error.code`, else `authentication_error` (401), `permission_error` (403), `error.type`, `http_<status>` `}`, logged as an error |
/// | anything else (1xx, 3xx) | `Declined { http_<status> }`, logged as an error |
///
/// Timeouts and connection errors never reach this function: the gateway maps them to
/// `Transient` itself (and an idempotency key that is not a valid header value, which it cannot
/// send, to `Declined { invalid_idempotency_key }`).
pub fn outcome_from_response(status: u16, body: &str) -> ChargeOutcome {
    interpret(status, body).outcome
}

/// An outcome, and what went wrong on our side of the integration when something did (a bad
/// key, a malformed request, a reused idempotency key): those are not the customer's declines
/// and an operator must see them. The text may quote Stripe's message: redact before logging.
#[derive(Debug)]
pub(crate) struct Interpretation {
    pub outcome: ChargeOutcome,
    pub problem: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PaymentIntent {
    id: String,
    status: String,
    #[serde(default)]
    last_payment_error: Option<ErrorDetail>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

/// Both Stripe's error object and a PaymentIntent's `last_payment_error` have this shape.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ErrorDetail {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    param: Option<String>,
    #[serde(default)]
    payment_intent: Option<PaymentIntentRef>,
}

#[derive(Debug, Deserialize)]
struct PaymentIntentRef {
    id: String,
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(String::as_str).filter(|value| !value.is_empty())
}

impl ErrorDetail {
    /// Most specific first: the issuer's reason, then Stripe's code.
    fn decline_reason(&self) -> Option<&str> {
        non_empty(self.decline_code.as_ref()).or_else(|| non_empty(self.code.as_ref()))
    }

    /// The failure code of a declined payment, the one mapping of Stripe's reasons for the
    /// charge's answer and the webhook alike: the decline code, else the error code (empty ones
    /// count as absent), else `card_declined`.
    pub(crate) fn decline_code(error: Option<&Self>) -> &str {
        error
            .and_then(Self::decline_reason)
            .unwrap_or(GENERIC_DECLINE)
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (name, value) in [
            ("type", &self.kind),
            ("code", &self.code),
            ("param", &self.param),
            ("message", &self.message),
        ] {
            if let Some(value) = non_empty(value.as_ref()) {
                parts.push(format!("{name}={value:?}"));
            }
        }
        parts.join(" ")
    }
}

fn declined(code: &str, gateway_txn_id: Option<String>) -> ChargeOutcome {
    ChargeOutcome::Declined {
        code: code.to_owned(),
        gateway_txn_id,
    }
}

pub(crate) fn interpret(status: u16, body: &str) -> Interpretation {
    let ok = |outcome| Interpretation {
        outcome,
        problem: None,
    };
    if (200..300).contains(&status) {
        return interpret_payment_intent(status, body);
    }
    if status == 429 || (500..600).contains(&status) {
        return ok(ChargeOutcome::Transient {
            message: format!("stripe answered HTTP {status}"),
        });
    }
    let error = serde_json::from_str::<ErrorBody>(body)
        .map(|body| body.error)
        .unwrap_or_default();
    let kind = non_empty(error.kind.as_ref());
    let code = non_empty(error.code.as_ref());
    let fault = |code: &str, what: &str| Interpretation {
        outcome: declined(code, None),
        problem: Some(format!(
            "stripe refused the request (HTTP {status}): {what}; {}",
            error.describe()
        )),
    };

    if matches!(code, Some("idempotency_key_in_use" | "lock_timeout")) {
        return ok(ChargeOutcome::Transient {
            message: format!(
                "stripe answered HTTP {status} ({})",
                code.unwrap_or_default()
            ),
        });
    }
    if kind == Some("idempotency_error") {
        return fault(
            "idempotency_error",
            "the attempt's idempotency key was already used with other parameters",
        );
    }
    if status == 402 || kind == Some("card_error") {
        return ok(declined(
            ErrorDetail::decline_code(Some(&error)),
            error.payment_intent.as_ref().map(|pi| pi.id.clone()),
        ));
    }
    if (400..500).contains(&status) {
        let by_status = match status {
            401 => Some("authentication_error"),
            403 => Some("permission_error"),
            _ => None,
        };
        let fallback = format!("http_{status}");
        let code = code.or(by_status).or(kind).unwrap_or(fallback.as_str());
        return fault(code, "not a decline: the request or the key is wrong");
    }
    fault(
        &format!("http_{status}"),
        "an HTTP status Stripe never sends",
    )
}

fn interpret_payment_intent(status: u16, body: &str) -> Interpretation {
    let intent = match serde_json::from_str::<PaymentIntent>(body) {
        Ok(intent) => intent,
        Err(error) => {
            return Interpretation {
                outcome: ChargeOutcome::Transient {
                    message: format!("stripe answered HTTP {status} without a PaymentIntent"),
                },
                problem: Some(format!(
                    "stripe answered HTTP {status} with a body that is not a PaymentIntent: {error}"
                )),
            };
        }
    };
    let txn = intent.id;
    let outcome = match intent.status.as_str() {
        "succeeded" => ChargeOutcome::Succeeded {
            gateway_txn_id: txn,
        },
        "processing" => ChargeOutcome::Pending {
            gateway_txn_id: txn,
        },
        "requires_payment_method" | "canceled" => declined(
            ErrorDetail::decline_code(intent.last_payment_error.as_ref()),
            Some(txn),
        ),
        "requires_action" | "requires_confirmation" => {
            declined("authentication_required", Some(txn))
        }
        other => {
            return Interpretation {
                problem: Some(format!(
                    "PaymentIntent {txn} is in status {other:?}, which an automatic-capture, \
                     confirmed, off-session charge never reaches"
                )),
                outcome: declined("unexpected_payment_intent_status", Some(txn)),
            };
        }
    };
    Interpretation {
        outcome,
        problem: None,
    }
}

#[cfg(test)]
mod tests {
    //! Bodies in the shapes of Stripe's API reference (PaymentIntent object, error object),
    //! trimmed to what matters plus enough neighbours to show unknown fields are ignored.
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn payment_intent(status: &str, last_payment_error: &str) -> String {
        format!(
            r#"{{
  "id": "pi_3MtwBwLkdIwHu7ix28a3tqPa",
  "object": "payment_intent",
  "amount": 2000,
  "amount_received": 0,
  "capture_method": "automatic",
  "client_secret": "pi_3MtwBwLkdIwHu7ix28a3tqPa_secret_YrKJUKribcBjcG8HVhfZluoGH",
  "confirmation_method": "automatic",
  "created": 1680800504,
  "currency": "usd",
  "customer": null,
  "last_payment_error": {last_payment_error},
  "latest_charge": "ch_3MtwBwLkdIwHu7ix2Kz7BFx7",
  "livemode": false,
  "metadata": {{"invoice_id": "inv_1", "user_id": "usr_1", "attempt_key": "inv_1-attempt-1"}},
  "next_action": null,
  "payment_method": "pm_1MtwBwLkdIwHu7ixpVHsQvxk",
  "payment_method_types": ["card"],
  "status": "{status}"
}}"#
        )
    }

    fn error_body(error: &str) -> String {
        format!(r#"{{"error": {error}}}"#)
    }

    fn declined_with(code: &str, txn: Option<&str>) -> ChargeOutcome {
        declined(code, txn.map(str::to_owned))
    }

    const PI: &str = "pi_3MtwBwLkdIwHu7ix28a3tqPa";

    #[test]
    fn succeeded_is_a_success_with_the_payment_intent_id() {
        assert_eq!(
            outcome_from_response(200, &payment_intent("succeeded", "null")),
            ChargeOutcome::Succeeded {
                gateway_txn_id: PI.into()
            }
        );
    }

    #[test]
    fn processing_is_pending_on_the_payment_intent() {
        assert_eq!(
            outcome_from_response(200, &payment_intent("processing", "null")),
            ChargeOutcome::Pending {
                gateway_txn_id: PI.into()
            }
        );
    }

    #[test]
    fn requires_payment_method_declines_with_the_issuer_decline_code() {
        let error = r#"{
    "charge": "ch_3MtwBwLkdIwHu7ix2Kz7BFx7",
    "code": "card_declined",
    "decline_code": "insufficient_funds",
    "doc_url": "https://stripe.com/docs/error-codes/card-declined",
    "message": "Your card has insufficient funds.",
    "type": "card_error"
  }"#;
        assert_eq!(
            outcome_from_response(200, &payment_intent("requires_payment_method", error)),
            declined_with("insufficient_funds", Some(PI))
        );
    }

    #[test]
    fn requires_payment_method_without_a_decline_code_uses_the_error_code() {
        let error = r#"{
    "code": "payment_intent_authentication_failure",
    "message": "The provided PaymentMethod has failed authentication.",
    "type": "invalid_request_error"
  }"#;
        assert_eq!(
            outcome_from_response(200, &payment_intent("requires_payment_method", error)),
            declined_with("payment_intent_authentication_failure", Some(PI))
        );
    }

    #[test]
    fn requires_payment_method_without_a_reason_is_a_generic_decline() {
        assert_eq!(
            outcome_from_response(200, &payment_intent("requires_payment_method", "null")),
            declined_with("card_declined", Some(PI))
        );
        // stripe-mock's fixed answer: an error without code or decline code.
        assert_eq!(
            outcome_from_response(
                200,
                &payment_intent(
                    "requires_payment_method",
                    r#"{"type": "idempotency_error"}"#
                )
            ),
            declined_with("card_declined", Some(PI))
        );
    }

    #[test]
    fn canceled_is_a_decline() {
        assert_eq!(
            outcome_from_response(200, &payment_intent("canceled", "null")),
            declined_with("card_declined", Some(PI))
        );
        let error = r#"{"code": "expired_card", "message": "Your card has expired.", "type": "card_error"}"#;
        assert_eq!(
            outcome_from_response(200, &payment_intent("canceled", error)),
            declined_with("expired_card", Some(PI))
        );
    }

    #[test]
    fn requires_action_or_confirmation_declines_as_authentication_required() {
        for status in ["requires_action", "requires_confirmation"] {
            assert_eq!(
                outcome_from_response(200, &payment_intent(status, "null")),
                declined_with("authentication_required", Some(PI)),
                "{status}"
            );
        }
    }

    #[test]
    fn an_unexpected_status_is_a_logged_decline() {
        let answer = interpret(200, &payment_intent("requires_capture", "null"));
        assert_eq!(
            answer.outcome,
            declined_with("unexpected_payment_intent_status", Some(PI))
        );
        assert!(answer.problem.is_some());
    }

    #[test]
    fn a_success_status_without_a_payment_intent_is_transient_and_logged() {
        for body in ["", "<html>bad gateway</html>", r#"{"object": "list"}"#] {
            let answer = interpret(200, body);
            assert!(
                matches!(answer.outcome, ChargeOutcome::Transient { .. }),
                "{body:?}"
            );
            assert!(answer.problem.is_some());
        }
    }

    #[test]
    fn a_card_error_declines_with_the_decline_code_and_the_payment_intent() {
        let body = error_body(&format!(
            r#"{{
    "charge": "ch_3MtwBwLkdIwHu7ix2Kz7BFx7",
    "code": "card_declined",
    "decline_code": "insufficient_funds",
    "doc_url": "https://stripe.com/docs/error-codes/card-declined",
    "message": "Your card has insufficient funds.",
    "payment_intent": {},
    "payment_method": {{"id": "pm_1MtwBwLkdIwHu7ixpVHsQvxk", "object": "payment_method", "type": "card"}},
    "request_log_url": "https://dashboard.stripe.com/test/logs/req_xyz",
    "type": "card_error"
  }}"#,
            payment_intent("requires_payment_method", "null")
        ));
        let answer = interpret(402, &body);
        assert_eq!(
            answer.outcome,
            declined_with("insufficient_funds", Some(PI))
        );
        assert!(answer.problem.is_none(), "a decline is not our fault");
    }

    #[test]
    fn a_card_error_without_a_decline_code_uses_the_code() {
        let body = error_body(
            r#"{
    "code": "expired_card",
    "doc_url": "https://stripe.com/docs/error-codes/expired-card",
    "message": "Your card has expired.",
    "param": "exp_month",
    "type": "card_error"
  }"#,
        );
        assert_eq!(
            outcome_from_response(402, &body),
            declined_with("expired_card", None)
        );
    }

    #[test]
    fn an_off_session_authentication_failure_is_a_decline() {
        let body = error_body(&format!(
            r#"{{
    "code": "authentication_required",
    "decline_code": "authentication_required",
    "message": "Your card was declined. This transaction requires authentication.",
    "payment_intent": {},
    "type": "card_error"
  }}"#,
            payment_intent("requires_payment_method", "null")
        ));
        assert_eq!(
            outcome_from_response(402, &body),
            declined_with("authentication_required", Some(PI))
        );
    }

    #[test]
    fn a_402_without_a_readable_error_is_a_generic_decline() {
        assert_eq!(
            outcome_from_response(402, "payment required"),
            declined_with("card_declined", None)
        );
    }

    #[test]
    fn rate_limits_and_server_errors_are_transient() {
        let rate_limited = error_body(
            r#"{
    "code": "rate_limit",
    "message": "Too many requests hit the API too quickly. We recommend an exponential backoff of your requests.",
    "type": "invalid_request_error"
  }"#,
        );
        let api_error = error_body(
            r#"{"message": "Sorry, something went wrong. We've already been notified of the problem.", "type": "api_error"}"#,
        );
        for (status, body) in [
            (429, rate_limited.as_str()),
            (500, api_error.as_str()),
            (502, "<html><body>502 Bad Gateway</body></html>"),
            (503, ""),
            (504, "upstream request timeout"),
        ] {
            let answer = interpret(status, body);
            assert!(
                matches!(answer.outcome, ChargeOutcome::Transient { .. }),
                "{status}: {:?}",
                answer.outcome
            );
            assert!(answer.problem.is_none());
        }
    }

    #[test]
    fn a_key_in_use_by_a_concurrent_request_is_transient() {
        let in_use = error_body(
            r#"{
    "code": "idempotency_key_in_use",
    "message": "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): inv_1-attempt-1. Please try again later.",
    "type": "invalid_request_error"
  }"#,
        );
        let lock_timeout = error_body(
            r#"{"code": "lock_timeout", "message": "This object cannot be accessed right now because another API request or Stripe process is currently accessing it.", "type": "invalid_request_error"}"#,
        );
        for (status, body) in [(409, in_use), (429, lock_timeout)] {
            assert!(matches!(
                outcome_from_response(status, &body),
                ChargeOutcome::Transient { .. }
            ));
        }
    }

    #[test]
    fn an_idempotency_conflict_is_a_logged_decline_not_a_retry() {
        let body = error_body(
            r#"{
    "message": "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than 'inv_1-attempt-1' if you meant to execute a different request.",
    "type": "idempotency_error"
  }"#,
        );
        let answer = interpret(409, &body);
        assert_eq!(answer.outcome, declined_with("idempotency_error", None));
        let problem = answer.problem.unwrap();
        assert!(problem.contains("idempotency"), "{problem}");
    }

    #[test]
    fn an_invalid_request_is_a_logged_decline_with_stripe_code() {
        let body = error_body(
            r#"{
    "code": "parameter_unknown",
    "doc_url": "https://stripe.com/docs/error-codes/parameter-unknown",
    "message": "Received unknown parameter: paymentmethod",
    "param": "paymentmethod",
    "type": "invalid_request_error"
  }"#,
        );
        let answer = interpret(400, &body);
        assert_eq!(answer.outcome, declined_with("parameter_unknown", None));
        let problem = answer.problem.unwrap();
        assert!(problem.contains("paymentmethod"), "{problem}");
    }

    #[test]
    fn an_invalid_request_without_a_code_uses_the_error_type() {
        // stripe-mock's validation errors carry a type and a message only.
        let body = error_body(
            r#"{"message": "Request validation error: validator 0x1 failed: additional properties are not allowed", "type": "invalid_request_error"}"#,
        );
        assert_eq!(
            outcome_from_response(400, &body),
            declined_with("invalid_request_error", None)
        );
    }

    #[test]
    fn a_bad_or_restricted_key_is_a_logged_decline() {
        let invalid_key = error_body(
            r#"{"message": "Invalid API Key provided: sk_test_********************1234", "type": "invalid_request_error"}"#,
        );
        let answer = interpret(401, &invalid_key);
        assert_eq!(answer.outcome, declined_with("authentication_error", None));
        assert!(answer.problem.is_some());

        let restricted = error_body(
            r#"{"message": "The provided key 'rk_test_***1234' does not have the required permissions for this endpoint on account 'acct_1'.", "type": "invalid_request_error"}"#,
        );
        assert_eq!(
            outcome_from_response(403, &restricted),
            declined_with("permission_error", None)
        );
    }

    #[test]
    fn an_unreadable_client_error_is_named_by_its_status() {
        assert_eq!(
            outcome_from_response(404, "<html>Not Found</html>"),
            declined_with("http_404", None)
        );
    }

    #[test]
    fn a_redirect_or_informational_status_is_a_logged_decline() {
        let answer = interpret(302, "");
        assert_eq!(answer.outcome, declined_with("http_302", None));
        assert!(answer.problem.is_some());
    }
}
