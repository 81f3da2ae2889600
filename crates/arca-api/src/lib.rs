//! Arca's Kubernetes API: the custom resources of group `arca.io`, version
//! `v1alpha1`, that drive backups declaratively (GitOps-friendly) and that
//! `arca server` reconciles.
//!
//! This crate is types only (serde + OpenAPI schemas): the controller lives
//! in `arca-server`, the install manifests in `arca-install`.

pub mod backup;
pub mod blueprint;
pub mod common;
pub mod location;
pub mod restore;
pub mod schedule;

pub use backup::{Backup, BackupPhase, BackupSpec, BackupStatus};
pub use blueprint::{Blueprint, BlueprintSpec};
pub use common::{Condition, Issue};
pub use location::{AccessMode, BackupLocation, BackupLocationSpec, BackupLocationStatus};
pub use restore::{Restore, RestorePhase, RestoreSpec, RestoreStatus};
pub use schedule::{Schedule, ScheduleSpec, ScheduleStatus};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

/// The API group of Arca's resources.
pub const GROUP: &str = "arca.io";
/// The served (and stored) version.
pub const VERSION: &str = "v1alpha1";
/// `apiVersion` of every Arca object.
pub const API_VERSION: &str = "arca.io/v1alpha1";

/// Labels and annotations Arca puts on its objects.
pub mod labels {
    /// On a `Backup`: the `Schedule` that made it.
    pub const SCHEDULE: &str = "arca.io/schedule";
    /// On a `Backup` or `Restore`: the `BackupLocation` it uses.
    pub const LOCATION: &str = "arca.io/location";
    /// On a `Backup` made by catalog sync from a snapshot found in a
    /// location's repository (not created in this cluster).
    pub const SYNCED: &str = "arca.io/synced";
    /// On a `BackupLocation`: the default location of its namespace.
    pub const DEFAULT_LOCATION: &str = "arca.io/default-location";
    /// Finalizer on a `Backup`: its snapshot is forgotten before the object goes.
    pub const BACKUP_FINALIZER: &str = "arca.io/snapshot";
}

/// The CustomResourceDefinitions of every Arca resource, in install order.
pub fn crds() -> Vec<CustomResourceDefinition> {
    vec![BackupLocation::crd(), Backup::crd(), Restore::crd(), Schedule::crd(), Blueprint::crd()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_crd_is_namespaced_with_a_status_subresource_and_columns() {
        for crd in crds() {
            let name = crd.metadata.name.clone().unwrap_or_default();
            assert!(name.ends_with(".arca.io"), "{name}");
            assert_eq!(crd.spec.scope, "Namespaced", "{name}");
            let v = &crd.spec.versions[0];
            assert_eq!(v.name, VERSION);
            assert!(v.served && v.storage);
            if name != "blueprints.arca.io" {
                let sub = v.subresources.as_ref().and_then(|s| s.status.as_ref());
                assert!(sub.is_some(), "{name} has a status subresource");
            }
            assert!(v.additional_printer_columns.as_ref().is_some_and(|c| !c.is_empty()), "{name} has columns");
            assert!(v.schema.is_some(), "{name} has a schema");
        }
    }

    #[test]
    fn specs_round_trip_in_camel_case() {
        let spec: BackupSpec = serde_json::from_value(serde_json::json!({
            "location": "main",
            "includeNamespaces": ["shop"],
            "volumes": {"mode": "auto"},
            "hooks": {"consistency": "group", "freezeTimeout": "2m"},
        }))
        .unwrap();
        assert_eq!(spec.include_namespaces, vec!["shop"]);
        assert_eq!(spec.hooks.consistency.as_deref(), Some("group"));
        let back = serde_json::to_value(&spec).unwrap();
        assert_eq!(back["includeNamespaces"][0], "shop");
    }
}
