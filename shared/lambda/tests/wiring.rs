//! The wiring every Lambda shares: `LambdaConfig::app` reports the use cases to the metrics
//! it is given (the function's EMF), and `MeteredSink` counts the events its sink accepted.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use async_trait::async_trait;
use billing_app::clock::SystemClock;
use billing_app::ports::EventSink;
use billing_app::usage::{IngestUsage, ingest_usage};
use billing_app::users::{CreateUser, create_user};
use billing_app::{Actor, AppError};
use billing_lambda::emf::{Captured, instrument, read_document};
use billing_lambda::{LambdaConfig, LambdaError, MeteredSink, TABLE_VAR};
use billing_ledger::AuditEntry;
use serde_json::json;

#[tokio::test]
async fn the_app_reports_its_use_cases_to_the_functions_emf_metrics() {
    // The default environment: simulated gateway, usage queued in the table.
    let fixture = billing_store::testing::embedded("lambda_app")
        .await
        .unwrap();
    let (metrics, captured) = Captured::metrics("billing-api");
    let config =
        LambdaConfig::from_lookup(|name| (name == TABLE_VAR).then(|| "unused".into())).unwrap();
    let app = config
        .app(
            fixture.table.clone(),
            Arc::new(SystemClock),
            metrics.clone(),
        )
        .await;
    let user = create_user(
        &app,
        CreateUser {
            email: "emf@example.com".into(),
            name: None,
            payment_method: None,
        },
        &Actor("test".into()),
    )
    .await
    .unwrap();
    let request: IngestUsage = serde_json::from_value(json!({"events": [
        {"id": "e1", "user_id": user.id, "metric": "api_calls", "quantity": 3},
        {"id": "e2", "user_id": user.id, "metric": "api_calls", "quantity": 4},
    ]}))
    .unwrap();
    let accepted = instrument(&metrics, ingest_usage(&app, request))
        .await
        .unwrap();
    assert_eq!(accepted, 2);

    let documents = captured.documents().unwrap();
    assert_eq!(documents.len(), 1);
    assert_eq!(documents[0]["Function"], "billing-api");
    let values = read_document(&documents[0]).unwrap();
    assert_eq!(
        (
            values["Invocations"],
            values["Errors"],
            values["UsageEventsIngested"]
        ),
        (1, 0, 2)
    );
}

struct Refusing(bool);

#[async_trait]
impl EventSink for Refusing {
    async fn publish(&self, _entries: &[AuditEntry]) -> Result<(), AppError> {
        if self.0 {
            Err(AppError::Unavailable("refused".into()))
        } else {
            Ok(())
        }
    }
}

fn entries(count: usize) -> Vec<AuditEntry> {
    let entry: AuditEntry = serde_json::from_value(json!({
        "id": "aud_1", "at": "2027-01-01T00:00:00Z", "actor": "system:test",
        "action": "invoice.finalized", "entity_type": "invoice", "entity_id": "inv_1", "data": {}
    }))
    .unwrap();
    vec![entry; count]
}

#[tokio::test]
async fn a_metered_sink_counts_only_what_its_sink_accepted() {
    let (metrics, captured) = Captured::metrics("events-publisher");
    MeteredSink::new(Refusing(false), metrics.clone())
        .publish(&entries(3))
        .await
        .unwrap();
    assert!(
        MeteredSink::new(Refusing(true), metrics.clone())
            .publish(&entries(5))
            .await
            .is_err()
    );
    metrics.start().finish(false);
    let values = read_document(&captured.documents().unwrap()[0]).unwrap();
    assert_eq!(values["EventsPublished"], 3);
}

#[test]
fn every_configuration_error_names_its_variable_and_keeps_its_source() {
    let read = |vars: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        LambdaConfig::from_lookup(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    };
    let table = (TABLE_VAR, "billing");
    let config = read(&[table, ("BILLING_RUN_QUEUE_URL", " ")]).unwrap();
    assert_eq!(config.table, "billing");
    assert_eq!(config.gateway.name(), "simulated");
    assert_eq!(config.run_queue_url, None, "empty counts as unset");
    for (vars, variable) in [
        (vec![], TABLE_VAR),
        (
            vec![table, ("BILLING_PAYMENT_GATEWAY", "paypal")],
            "BILLING_PAYMENT_GATEWAY",
        ),
        (
            vec![table, ("BILLING_PAYMENT_GATEWAY", "stripe")],
            "STRIPE_API_KEY",
        ),
        (
            vec![table, ("BILLING_PAYMENT_RETRY_SCHEDULE", "3d,1d")],
            "BILLING_PAYMENT_RETRY_SCHEDULE",
        ),
    ] {
        let error = read(&vars).unwrap_err();
        assert!(error.to_string().starts_with(variable), "{error}");
        if variable.starts_with("STRIPE") {
            assert!(matches!(error, LambdaError::Gateway(_)), "{error:?}");
        }
    }
}
