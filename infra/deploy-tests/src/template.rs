//! `template.yaml` as CloudFormation reads it: YAML with the short-form intrinsics (`!Ref`,
//! `!GetAtt`, `!Sub`, …) turned into their long JSON forms, so checks can walk plain JSON.
//! The checks that need more than a lookup live here, so each can be shown to fail on a bad
//! template in this module's own tests.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Map, Value};

use crate::DeployTestError;

/// Reads a CloudFormation / SAM template.
pub fn load(path: &Path) -> Result<Value, DeployTestError> {
    let text = std::fs::read_to_string(path).map_err(|source| DeployTestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text).map_err(|source| DeployTestError::Yaml {
        path: path.to_path_buf(),
        source,
    })
}

pub fn parse(text: &str) -> Result<Value, serde_yaml::Error> {
    let yaml: serde_yaml::Value = serde_yaml::from_str(text)?;
    Ok(to_json(yaml))
}

fn to_json(yaml: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Yaml;
    match yaml {
        Yaml::Null => Value::Null,
        Yaml::Bool(b) => Value::Bool(b),
        Yaml::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                // Templates carry no fractions that matter here; keep the text.
                Value::String(n.to_string())
            }
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Yaml::Mapping(mapping) => {
            let mut object = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Yaml::String(s) => s,
                    other => serde_yaml::to_string(&other)
                        .unwrap_or_default()
                        .trim()
                        .to_owned(),
                };
                object.insert(key, to_json(value));
            }
            Value::Object(object)
        }
        Yaml::Tagged(tagged) => {
            let name = tagged.tag.to_string();
            let name = name.trim_start_matches('!').to_owned();
            let value = to_json(tagged.value);
            let (key, value) = match name.as_str() {
                "Ref" => ("Ref".to_owned(), value),
                "Condition" => ("Condition".to_owned(), value),
                "GetAtt" => {
                    let value = match value {
                        // `!GetAtt Resource.Attribute.Path` → ["Resource", "Attribute.Path"]
                        Value::String(text) => match text.split_once('.') {
                            Some((resource, attribute)) => {
                                Value::Array(vec![resource.into(), attribute.into()])
                            }
                            None => Value::Array(vec![text.into()]),
                        },
                        other => other,
                    };
                    ("Fn::GetAtt".to_owned(), value)
                }
                other => (format!("Fn::{other}"), value),
            };
            let mut object = Map::new();
            object.insert(key, value);
            Value::Object(object)
        }
    }
}

/// The template's resources by logical id.
pub fn resources(template: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    template["Resources"]
        .as_object()
        .unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// Logical ids of the resources of `kind` (`AWS::Serverless::Function`, …).
pub fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(&'a str, &'a Value)> {
    resources(template)
        .iter()
        .filter(|(_, resource)| resource["Type"] == kind)
        .map(|(id, resource)| (id.as_str(), resource))
        .collect()
}

/// Every logical id or parameter `value` refers to: `Ref`, `Fn::GetAtt`, and the `${Name}` /
/// `${Name.Attribute}` placeholders of `Fn::Sub` (pseudo parameters like `AWS::Region` are
/// left out).
pub fn references(value: &Value) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    collect_references(value, &mut found);
    found
}

fn collect_references(value: &Value, found: &mut BTreeSet<String>) {
    match value {
        Value::Object(object) => {
            for (key, inner) in object {
                match (key.as_str(), inner) {
                    ("Ref", Value::String(name)) => add_reference(name, found),
                    ("Fn::GetAtt", Value::Array(parts)) => {
                        if let Some(Value::String(name)) = parts.first() {
                            add_reference(name, found);
                        }
                    }
                    ("Fn::Sub", Value::String(text)) => sub_references(text, found),
                    ("Fn::Sub", Value::Array(parts)) => {
                        // [text, {Name: value}]: names defined by the map are not references
                        // themselves, their values are.
                        let defined: BTreeSet<String> = parts
                            .get(1)
                            .and_then(Value::as_object)
                            .map(|map| map.keys().cloned().collect())
                            .unwrap_or_default();
                        if let Some(Value::String(text)) = parts.first() {
                            let mut inside = BTreeSet::new();
                            sub_references(text, &mut inside);
                            found.extend(inside.into_iter().filter(|n| !defined.contains(n)));
                        }
                        if let Some(map) = parts.get(1) {
                            collect_references(map, found);
                        }
                    }
                    _ => collect_references(inner, found),
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| collect_references(item, found)),
        _ => {}
    }
}

fn add_reference(name: &str, found: &mut BTreeSet<String>) {
    if !name.starts_with("AWS::") {
        found.insert(name.to_owned());
    }
}

fn sub_references(text: &str, found: &mut BTreeSet<String>) {
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        // `${!Literal}` is an escaped dollar sign, not a reference.
        if !name.starts_with('!') {
            let resource = name.split('.').next().unwrap_or(name);
            add_reference(resource, found);
        }
        rest = &after[end + 1..];
    }
}

/// The HTTP API routes the template gives its functions: `(METHOD, path)`.
pub fn http_routes(template: &Value) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    for (_, function) in resources_of_type(template, "AWS::Serverless::Function") {
        let Some(events) = function["Properties"]["Events"].as_object() else {
            continue;
        };
        for event in events.values() {
            if event["Type"] == "HttpApi" {
                let method = event["Properties"]["Method"]
                    .as_str()
                    .unwrap_or_default()
                    .to_uppercase();
                let path = event["Properties"]["Path"].as_str().unwrap_or_default();
                routes.insert((method, path.to_owned()));
            }
        }
    }
    routes
}

/// The resources a function works with: whatever its properties (environment, events, log
/// group) and the global function settings refer to — everything but its role.
pub fn own_resources(template: &Value, function: &Value) -> BTreeSet<String> {
    let mut properties = function["Properties"].clone();
    if let Some(object) = properties.as_object_mut() {
        object.remove("Role");
    }
    let mut own = references(&properties);
    own.extend(references(&template["Globals"]["Function"]));
    own
}

/// Every way a role's policies reach beyond its function: a statement on `*`, a resource the
/// function does not use, a role shared by two functions or used by none, managed policies.
/// Empty when every function's role names only its own resources.
pub fn policy_violations(template: &Value) -> Vec<String> {
    let mut violations = Vec::new();
    let functions = resources_of_type(template, "AWS::Serverless::Function");
    let mut users: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (id, function) in &functions {
        match function["Properties"]["Role"]["Fn::GetAtt"]
            .as_array()
            .and_then(|parts| parts.first())
            .and_then(Value::as_str)
        {
            Some(role) => users.entry(role.to_owned()).or_default().push(id),
            None => violations.push(format!(
                "{id}: has no Role of its own (SAM's generated role gets broad managed policies)"
            )),
        }
        if function["Properties"].get("Policies").is_some() {
            violations.push(format!(
                "{id}: Policies adds SAM policy templates; grant through its role instead"
            ));
        }
    }
    for (role_id, role) in resources_of_type(template, "AWS::IAM::Role") {
        let Some(function_ids) = users.get(role_id) else {
            violations.push(format!("{role_id}: no function uses this role"));
            continue;
        };
        if function_ids.len() > 1 {
            violations.push(format!(
                "{role_id}: shared by {}; each function needs its own",
                function_ids.join(", ")
            ));
            continue;
        }
        let function_id = function_ids[0];
        let function = &resources(template)[function_id];
        let own = own_resources(template, function);
        if role["Properties"].get("ManagedPolicyArns").is_some() {
            violations.push(format!(
                "{role_id}: managed policies grant on every resource"
            ));
        }
        let policies = role["Properties"]["Policies"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for policy in &policies {
            let name = policy["PolicyName"].as_str().unwrap_or("?");
            let statements = policy["PolicyDocument"]["Statement"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for statement in &statements {
                let resources = match &statement["Resource"] {
                    Value::Array(items) => items.clone(),
                    Value::Null => vec![],
                    single => vec![single.clone()],
                };
                if resources.is_empty() {
                    violations.push(format!("{role_id}/{name}: a statement without Resource"));
                }
                for resource in &resources {
                    let named = references(resource);
                    if resource.as_str().is_some() || named.is_empty() {
                        violations.push(format!(
                            "{role_id}/{name}: {resource} names no resource of the stack"
                        ));
                    }
                    for other in named.difference(&own) {
                        violations.push(format!(
                            "{role_id}/{name}: grants on {other}, which {function_id} does not use"
                        ));
                    }
                }
            }
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TWO_FUNCTIONS: &str = r#"
Globals:
  Function:
    Environment:
      Variables:
        BILLING_TABLE: !Ref Table
Resources:
  Table: { Type: AWS::DynamoDB::Table }
  QueueA: { Type: AWS::SQS::Queue }
  QueueB: { Type: AWS::SQS::Queue }
  RoleA:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - Effect: Allow
                Action: sqs:SendMessage
                Resource: RESOURCE_A
              - Effect: Allow
                Action: dynamodb:GetItem
                Resource: [!GetAtt Table.Arn, !Sub "${Table.Arn}/index/*"]
  RoleB:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement:
              - { Effect: Allow, Action: sqs:ReceiveMessage, Resource: !GetAtt QueueB.Arn }
  FunctionA:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt RoleA.Arn
      Environment: { Variables: { QUEUE: !Ref QueueA } }
  FunctionB:
    Type: AWS::Serverless::Function
    Properties:
      Role: !GetAtt RoleB.Arn
      Events: { Q: { Type: SQS, Properties: { Queue: !GetAtt QueueB.Arn } } }
"#;

    fn with_resource_a(resource: &str) -> Value {
        parse(&TWO_FUNCTIONS.replace("RESOURCE_A", resource)).unwrap()
    }

    #[test]
    fn short_intrinsics_become_their_long_forms() {
        let value =
            parse("a: !GetAtt Table.StreamArn\nb: !Sub '${Queue.Arn}-${AWS::Region}'\nc: !Ref X")
                .unwrap();
        assert_eq!(
            value["a"]["Fn::GetAtt"],
            serde_json::json!(["Table", "StreamArn"])
        );
        assert_eq!(
            references(&value),
            ["Queue", "Table", "X"].map(String::from).into()
        );
    }

    #[test]
    fn policies_on_their_own_resources_pass() {
        assert_eq!(
            policy_violations(&with_resource_a("!GetAtt QueueA.Arn")),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_policy_on_another_functions_queue_is_caught() {
        let violations = policy_violations(&with_resource_a("!GetAtt QueueB.Arn"));
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(violations[0].contains("QueueB"), "{violations:?}");
    }

    #[test]
    fn a_policy_on_every_resource_is_caught() {
        let violations = policy_violations(&with_resource_a("'*'"));
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(
            violations[0].contains("names no resource"),
            "{violations:?}"
        );
    }

    #[test]
    fn routes_are_read_from_http_api_events() {
        let template = parse(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties:\n      Events:\n        A: { Type: HttpApi, Properties: { Method: get, Path: /healthz } }\n        B: { Type: SQS, Properties: {} }\n",
        )
        .unwrap();
        assert_eq!(
            http_routes(&template),
            [("GET".to_owned(), "/healthz".to_owned())].into()
        );
    }
}
