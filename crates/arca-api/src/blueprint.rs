//! `Blueprint`: the blueprint format (`docs/BLUEPRINTS.md`) as a resource.
//! Arca checks the spec when it uses it, with the same rules and messages as
//! a blueprint file (the schema here is open so that the rules live in one
//! place).

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `metadata.name` is the blueprint's name; `spec` is the file format's
/// `description`, `backup` and `restore`.
#[derive(CustomResource, Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "arca.io",
    version = "v1alpha1",
    kind = "Blueprint",
    namespaced,
    category = "arca",
    printcolumn = r#"{"name":"Description","type":"string","jsonPath":".spec.description"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct BlueprintSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The backup action: `container`, `secretEnv`, `streams`.
    #[schemars(schema_with = "open_object")]
    pub backup: serde_json::Value,
    /// The restore action: `container`, `secretEnv`, `streams`.
    #[schemars(schema_with = "open_object")]
    pub restore: serde_json::Value,
}

fn open_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}
