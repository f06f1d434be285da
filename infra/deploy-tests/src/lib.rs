//! What proves the deployment on a machine without an AWS account (issue 11): the SAM template
//! read as CloudFormation sees it ([`template`]), and the built Lambda artifacts run under
//! cargo-lambda's Runtime API emulator ([`emulator`]). The tests in `tests/` use both;
//! `infra/deploy-check.sh` builds the artifacts and runs them.

pub mod emulator;
pub mod template;

use std::path::PathBuf;

/// The functions the template deploys: (logical id in template.yaml, cargo bin = artifact).
pub const DEPLOYED_FUNCTIONS: [(&str, &str); 5] = [
    ("ApiFunction", "billing-api"),
    ("UsageAggregatorFunction", "usage-aggregator"),
    ("InvoiceRunnerFunction", "invoice-runner"),
    ("PaymentRunnerFunction", "payment-runner"),
    ("EventsPublisherFunction", "events-publisher"),
];

/// The do-nothing `lambda_runtime` function measured beside them (infra/baseline-lambda).
pub const BASELINE_FUNCTION: &str = "baseline-lambda";

#[derive(Debug, thiserror::Error)]
pub enum DeployTestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid YAML: {source}")]
    Yaml {
        path: PathBuf,
        source: serde_yaml::Error,
    },
    #[error("{0}")]
    Template(String),
    #[error("{what}: {source}")]
    Process {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Emulator(String),
}

/// The repository's root (this crate lives in `infra/deploy-tests`).
pub fn repo_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .and_then(|infra| infra.parent())
        .map(PathBuf::from)
        .unwrap_or(manifest_dir)
}
