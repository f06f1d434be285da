//! template.yaml against the code it deploys: the table is the store's schema, every function
//! is a Rust artifact of the workspace on provided.al2023, every role names only its
//! function's resources, secrets are dynamic references, queues have DLQs, the outbox filter
//! is the ledger's key. (The routes are checked against the running API's own OpenAPI
//! document in tests/artifacts.rs.)
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use billing_deploy_tests::template::{
    self, policy_violations, references, resources, resources_of_type,
};
use billing_deploy_tests::{DEPLOYED_FUNCTIONS, repo_root};
use serde_json::Value;

fn template() -> Value {
    template::load(&repo_root().join("template.yaml")).unwrap()
}

fn resource<'a>(template: &'a Value, id: &str) -> &'a Value {
    resources(template)
        .get(id)
        .unwrap_or_else(|| panic!("template.yaml has no resource {id}"))
}

#[test]
fn the_table_is_the_stores_schema_with_recovery_and_deletion_protection() {
    let template = template();
    let table = resource(&template, "Table");
    assert_eq!(table["Type"], "AWS::DynamoDB::Table");
    let schema = billing_store::schema::cloudformation_properties();
    for (property, expected) in schema.as_object().unwrap() {
        assert_eq!(
            &table["Properties"][property], expected,
            "Table.{property} differs from billing_store::schema (the code that creates tables)"
        );
    }
    assert_eq!(
        table["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"],
        true
    );
    assert_eq!(table["Properties"]["DeletionProtectionEnabled"], true);
    assert_eq!(table["DeletionPolicy"], "Retain");
    assert_eq!(table["UpdateReplacePolicy"], "Retain");
}

#[test]
fn every_function_is_a_workspace_binary_built_by_cargo_lambda_for_al2023() {
    let template = template();
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"], "provided.al2023");
    assert_eq!(
        globals["Architectures"],
        serde_json::json!([{"Ref": "Architecture"}])
    );
    assert_eq!(template["Parameters"]["Architecture"]["Default"], "arm64");

    let functions = resources_of_type(&template, "AWS::Serverless::Function");
    let deployed: BTreeSet<&str> = functions.iter().map(|(id, _)| *id).collect();
    let expected: BTreeSet<&str> = DEPLOYED_FUNCTIONS.iter().map(|(id, _)| *id).collect();
    assert_eq!(deployed, expected);

    for (id, bin) in DEPLOYED_FUNCTIONS {
        let function = resource(&template, id);
        assert_eq!(
            function["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{id}"
        );
        assert_eq!(
            function["Metadata"]["BuildProperties"]["Binary"], bin,
            "{id}"
        );
        let code_uri = function["Properties"]["CodeUri"].as_str().unwrap();
        let manifest = std::fs::read_to_string(repo_root().join(code_uri).join("Cargo.toml"))
            .unwrap_or_else(|e| panic!("{id}: CodeUri {code_uri} has no Cargo.toml: {e}"));
        assert!(
            manifest.contains(&format!("name = \"{bin}\"")),
            "{id}: {code_uri}/Cargo.toml declares no bin {bin}"
        );
        let properties = &function["Properties"];
        let memory = properties["MemorySize"].as_u64().unwrap_or(0);
        assert!((128..=1024).contains(&memory), "{id}: MemorySize {memory}");
        assert!(
            properties["Timeout"].as_u64().unwrap_or(0) > 0,
            "{id}: Timeout"
        );
        // Logs go to a group of the stack's, kept for LogRetentionDays.
        let log_group = properties["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: LoggingConfig.LogGroup"));
        assert_eq!(
            resource(&template, log_group)["Properties"]["RetentionInDays"],
            serde_json::json!({"Ref": "LogRetentionDays"}),
            "{id}"
        );
    }
}

#[test]
fn every_role_names_only_its_own_functions_resources() {
    let violations = policy_violations(&template());
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn secrets_come_from_secrets_manager_never_from_parameters() {
    let template = template();
    for (name, _) in template["Parameters"].as_object().unwrap() {
        let lower = name.to_lowercase();
        assert!(
            !["token", "apikey", "password", "secret"]
                .iter()
                .any(|word| lower.contains(word))
                || lower == "secretsrevision",
            "parameter {name} looks like a secret: use a Secrets Manager dynamic reference"
        );
    }
    let secret_variables = [
        "BILLING_ADMIN_TOKEN",
        "STRIPE_API_KEY",
        "STRIPE_WEBHOOK_SECRET",
    ];
    let mut seen = 0;
    for (id, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let variables = &function["Properties"]["Environment"]["Variables"];
        for name in secret_variables {
            if variables[name].is_null() {
                continue;
            }
            seen += 1;
            let text = variables[name]["Fn::Sub"].as_str().unwrap_or_default();
            assert!(
                text.starts_with("{{resolve:secretsmanager:"),
                "{id}.{name} must be a Secrets Manager dynamic reference, is {}",
                variables[name]
            );
            let secret = references(&variables[name]).into_iter().next().unwrap();
            assert_eq!(
                resource(&template, &secret)["Type"],
                "AWS::SecretsManager::Secret"
            );
        }
    }
    assert!(
        seen >= 3,
        "the API needs its admin token and Stripe secrets"
    );
}

#[test]
fn every_queue_source_has_a_dead_letter_queue_partial_failures_and_room_to_retry() {
    let template = template();
    let mut sources = 0;
    for (id, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let timeout = function["Properties"]["Timeout"].as_u64().unwrap();
        for event in function["Properties"]["Events"]
            .as_object()
            .map(|events| events.values().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            if event["Type"] != "SQS" {
                continue;
            }
            sources += 1;
            let properties = &event["Properties"];
            assert_eq!(
                properties["FunctionResponseTypes"],
                serde_json::json!(["ReportBatchItemFailures"]),
                "{id}"
            );
            let queue_id = references(&properties["Queue"]).into_iter().next().unwrap();
            let queue = &resource(&template, &queue_id)["Properties"];
            assert!(
                queue["VisibilityTimeout"].as_u64().unwrap_or(30) >= 6 * timeout,
                "{queue_id}: visibility timeout under six times {id}'s timeout"
            );
            let redrive = &queue["RedrivePolicy"];
            let dlq = references(&redrive["deadLetterTargetArn"])
                .into_iter()
                .next();
            let dlq = dlq.unwrap_or_else(|| panic!("{queue_id} has no dead-letter queue"));
            assert!(redrive["maxReceiveCount"].as_u64().unwrap_or(0) >= 1);
            let alarmed = resources_of_type(&template, "AWS::CloudWatch::Alarm")
                .into_iter()
                .any(|(_, alarm)| {
                    alarm["Properties"]["MetricName"] == "ApproximateNumberOfMessagesVisible"
                        && references(&alarm["Properties"]["Dimensions"]).contains(&dlq)
                });
            assert!(alarmed, "no alarm watches {dlq}");
        }
    }
    assert_eq!(sources, 3, "usage queue and the two run work queues");
}

#[test]
fn the_publisher_wakes_only_for_outbox_inserts_of_the_ledgers_keys() {
    let template = template();
    let events = &resource(&template, "EventsPublisherFunction")["Properties"]["Events"];
    let stream = events
        .as_object()
        .unwrap()
        .values()
        .find(|event| event["Type"] == "DynamoDB")
        .expect("a stream event");
    assert_eq!(
        stream["Properties"]["Stream"],
        serde_json::json!({"Fn::GetAtt": ["Table", "StreamArn"]})
    );
    let pattern: Value = serde_json::from_str(
        stream["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(pattern["eventName"], serde_json::json!(["INSERT"]));
    assert_eq!(
        pattern["dynamodb"]["Keys"]["pk"]["S"][0]["prefix"],
        billing_ledger::keys::OUTBOX_PREFIX
    );
    assert_eq!(
        stream["Properties"]["FunctionResponseTypes"],
        serde_json::json!(["ReportBatchItemFailures"])
    );
    assert!(
        events
            .as_object()
            .unwrap()
            .values()
            .any(|e| e["Type"] == "Schedule"),
        "the sweep's schedule"
    );
}

#[test]
fn the_ui_bucket_is_private_and_cloudfront_sends_v1_to_the_api() {
    let template = template();
    let bucket = &resource(&template, "WebBucket")["Properties"];
    let block = &bucket["PublicAccessBlockConfiguration"];
    for setting in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[setting], true, "{setting}");
    }
    let config = &resource(&template, "Distribution")["Properties"]["DistributionConfig"];
    let web = config["Origins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|origin| origin["Id"] == "web")
        .unwrap();
    assert!(references(&web["OriginAccessControlId"]).contains("WebOriginAccessControl"));
    let api = config["CacheBehaviors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|behavior| behavior["PathPattern"] == "/v1/*")
        .expect("a /v1/* behaviour");
    assert_eq!(api["TargetOriginId"], "api");
    assert_eq!(api["AllowedMethods"].as_array().unwrap().len(), 7);
    // The SPA fallback is a viewer function on the UI's behaviour only, so API errors stay JSON.
    assert!(config.get("CustomErrorResponses").is_none());
    assert_eq!(
        config["DefaultCacheBehavior"]["FunctionAssociations"][0]["EventType"],
        "viewer-request"
    );
}

#[test]
fn the_outputs_name_what_an_operator_needs() {
    let template = template();
    for output in [
        "ApiUrl",
        "AdminUiUrl",
        "TableName",
        "UsageQueueUrl",
        "EventBusName",
    ] {
        assert!(
            template["Outputs"][output]["Value"].is_object(),
            "output {output}"
        );
    }
}

#[test]
fn the_dashboard_and_alarms_read_only_metrics_the_functions_emit() {
    let template = template();
    let emitted: BTreeSet<&str> = billing_lambda::emf::METRICS
        .iter()
        .map(|(name, _)| *name)
        .collect();
    let namespace = billing_lambda::emf::EMF_NAMESPACE;
    let mut used = BTreeSet::new();
    for (id, alarm) in resources_of_type(&template, "AWS::CloudWatch::Alarm") {
        for metric in alarm["Properties"]["Metrics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let metric = &metric["MetricStat"]["Metric"];
            if metric["Namespace"] == namespace {
                let name = metric["MetricName"].as_str().unwrap().to_owned();
                let dimension = metric["Dimensions"][0]["Name"].as_str().unwrap();
                assert_eq!(dimension, billing_lambda::emf::DIMENSION_FUNCTION, "{id}");
                used.insert(name);
            }
        }
    }
    // The body is JSON whose strings hold ${...} placeholders. A metrics row is
    // [namespace, name, dimension, value, options?], where "." repeats the row above at that
    // position and a leading "..." repeats its namespace and name.
    let body = resource(&template, "Dashboard")["Properties"]["DashboardBody"]["Fn::Sub"][0]
        .as_str()
        .unwrap();
    let body: Value = serde_json::from_str(body).expect("the dashboard body is JSON");
    for widget in body["widgets"].as_array().unwrap() {
        let (mut previous_namespace, mut previous_name) = (String::new(), String::new());
        for row in widget["properties"]["metrics"]
            .as_array()
            .cloned()
            .unwrap_or_default()
        {
            let cell = |i: usize| row[i].as_str().unwrap_or_default().to_owned();
            let (row_namespace, name) = if cell(0) == "..." {
                (previous_namespace.clone(), previous_name.clone())
            } else {
                let row_namespace = if cell(0) == "." {
                    previous_namespace.clone()
                } else {
                    cell(0)
                };
                let name = if cell(1) == "." {
                    previous_name.clone()
                } else {
                    cell(1)
                };
                (row_namespace, name)
            };
            if row_namespace == namespace {
                used.insert(name.clone());
            }
            (previous_namespace, previous_name) = (row_namespace, name);
        }
    }
    assert!(
        used.contains("PaymentsFailed") && used.contains("Latency"),
        "{used:?}"
    );
    for name in &used {
        assert!(
            emitted.contains(name.as_str()),
            "the template reads {namespace}/{name}, which no function emits"
        );
    }
}
