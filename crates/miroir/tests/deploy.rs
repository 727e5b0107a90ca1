//! The Helm chart's `values.schema.json` on sample values: the defaults pass, more than one
//! Miroir replica passes only with a shared `redis://` task store, and malformed values are
//! refused. (No `helm` binary can be installed from the package registries here, so the
//! templates are not rendered by a test.)

use serde_json::{json, Value};

fn schema() -> jsonschema::Validator {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/helm/miroir/values.schema.json"
    );
    let text = std::fs::read_to_string(path).expect("the chart's schema");
    let schema: Value = serde_json::from_str(&text).expect("JSON");
    jsonschema::validator_for(&schema).expect("a valid JSON Schema")
}

/// The chart's default values, with `miroir` fields replaced by `changes`.
fn values(changes: Value) -> Value {
    let mut miroir = json!({
        "replicaCount": 1,
        "taskStore": "",
        "replicationFactor": 2,
        "shards": 64,
        "logFormat": "json",
        "masterKey": "",
        "existingSecret": "",
    });
    for (key, value) in changes.as_object().expect("an object") {
        miroir[key] = value.clone();
    }
    json!({
        "miroir": miroir,
        "meilisearch": {"replicas": 3},
        "redis": {"enabled": false},
        "serviceMonitor": {"enabled": false},
    })
}

#[test]
fn the_default_values_match_the_schema() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/helm/miroir/values.yaml"
    ))
    .expect("values.yaml");
    for line in [
        "  replicaCount: 1",
        "  taskStore: \"\"",
        "  replicationFactor: 2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "values.yaml lacks {line:?}"
        );
    }
    assert!(schema().is_valid(&values(json!({}))));
}

#[test]
fn several_miroirs_need_the_redis_store() {
    let schema = schema();
    assert!(!schema.is_valid(&values(json!({"replicaCount": 2}))));
    assert!(!schema.is_valid(&values(json!({"replicaCount": 3, "taskStore": ""}))));
    assert!(!schema.is_valid(&values(
        json!({"replicaCount": 2, "taskStore": "sqlite:///data"})
    )));
    assert!(schema.is_valid(&values(
        json!({"replicaCount": 2, "taskStore": "redis://redis:6379/0"})
    )));
    assert!(schema.is_valid(&values(
        json!({"replicaCount": 1, "taskStore": "redis://redis:6379/0"})
    )));
}

#[test]
fn malformed_values_are_refused() {
    let schema = schema();
    for bad in [
        json!({"replicaCount": 0}),
        json!({"replicaCount": "two"}),
        json!({"replicationFactor": 0}),
        json!({"logFormat": "xml"}),
        json!({"taskStore": "postgres://db"}),
    ] {
        assert!(!schema.is_valid(&values(bad.clone())), "{bad} accepted");
    }
    let mut no_nodes = values(json!({}));
    no_nodes["meilisearch"]["replicas"] = json!(0);
    assert!(!schema.is_valid(&no_nodes));
}
