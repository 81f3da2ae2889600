//! `Blueprint` objects as blueprints: the built-ins, then those of the
//! server's namespace, then those of the work's own namespace (a name
//! there replaces the same name before it). A spec that breaks the format's
//! rules is an error naming the object, as a bad blueprint file is.

use arca_api::Blueprint as BlueprintObject;
use arca_apps::blueprint::Blueprint;
use arca_apps::blueprint::library::{Library, LibraryError, Origin};
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};

use crate::error::{Error, Result};

/// The blueprint an object stands for (its name is the blueprint's name).
pub fn from_object(obj: &BlueprintObject) -> Result<Blueprint, LibraryError> {
    let source = format!("Blueprint {}/{}", obj.namespace().unwrap_or_default(), obj.name_any());
    let value = serde_json::json!({
        "name": obj.name_any(),
        "description": obj.spec.description,
        "backup": obj.spec.backup,
        "restore": obj.spec.restore,
    });
    Ok(Blueprint::from_json(value, &source)?)
}

/// The library for work in `namespace`, read with `client` (in tenant mode
/// the tenant's: a tenant sees its own namespace's Blueprints and, if its
/// Role allows, the server's).
pub async fn library(client: &Client, server_namespace: &str, namespace: &str) -> Result<Library> {
    let mut lib = Library::built_in();
    let mut namespaces = vec![server_namespace];
    if namespace != server_namespace {
        namespaces.push(namespace);
    }
    for ns in namespaces {
        let api: Api<BlueprintObject> = Api::namespaced(client.clone(), ns);
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list,
            // The CRD not installed, or (tenant) no right to read the server's: no blueprints there.
            Err(kube::Error::Api(e)) if (e.code == 404 || e.code == 403) && ns != namespace => continue,
            Err(e) => return Err(Error::Kube(e)),
        };
        for obj in list.items {
            let bp = from_object(&obj).map_err(|e| Error::Other(e.to_string()))?;
            let origin = Origin::Resource(format!("{ns}/{}", obj.name_any()));
            lib.insert(bp, origin);
        }
    }
    Ok(lib)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arca_api::BlueprintSpec;

    fn object(backup: serde_json::Value) -> BlueprintObject {
        let mut obj = BlueprintObject::new(
            "pg-custom",
            BlueprintSpec {
                description: "custom".into(),
                backup,
                restore: serde_json::json!({"streams": [{"match": "db", "command": ["sh", "-c", "cat > /dev/null"]}]}),
            },
        );
        obj.metadata.namespace = Some("shop".into());
        obj
    }

    #[test]
    fn a_resource_is_checked_as_a_file_is() {
        let good = object(serde_json::json!({"streams": [{"name": "db", "command": ["pg_dumpall"]}]}));
        let bp = from_object(&good).unwrap();
        assert_eq!(bp.name, "pg-custom");
        let unknown_field = object(serde_json::json!({"streams": [{"name": "db", "command": ["x"]}], "bogus": 1}));
        let err = from_object(&unknown_field).unwrap_err().to_string();
        assert!(err.contains("Blueprint shop/pg-custom") && err.contains("bogus"), "{err}");
        let no_streams = object(serde_json::json!({"streams": []}));
        assert!(from_object(&no_streams).unwrap_err().to_string().contains("backup.streams is empty"));
    }
}
