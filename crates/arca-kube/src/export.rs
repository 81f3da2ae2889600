//! `export`: a backup as clean, apply-able YAML files, one per object, laid
//! out as `<namespace or _cluster>/<kind>/<name>.yaml`, sanitized as for a
//! restore. Secret values are redacted unless the caller asks for them.

use std::path::{Path, PathBuf};

use arca_repo::Repository;
use serde_json::Value;

use crate::catalog::{All, Catalog};
use crate::error::{Error, Result};
use crate::objects;
use crate::restore::mapping::Mappings;
use crate::restore::sanitize::{self, Context, SanitizeOptions};

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExportSummary {
    pub directory: String,
    pub written: u64,
    pub skipped: u64,
    pub secrets_redacted: u64,
}

/// Where one exported object goes, relative to the export directory.
pub fn export_path(obj: &Value) -> PathBuf {
    let scope = objects::namespace(obj).unwrap_or("_cluster");
    let kind = objects::kind(obj).to_lowercase();
    PathBuf::from(scope).join(kind).join(format!("{}.yaml", objects::name(obj).replace('/', "_")))
}

/// Sanitizes an object for export (as a restore would); `None` when a skip
/// rule says it should not be recreated.
pub fn clean(obj: &Value) -> Option<Value> {
    let (group, _) = objects::split_api_version(objects::str_at(obj, "/apiVersion").unwrap_or_default());
    if sanitize::skip_reason(group, objects::kind(obj), obj).is_some() {
        return None;
    }
    let mut o = obj.clone();
    let mappings = Mappings::default();
    let keep_volume = |_: &str| true;
    let ctx = Context { opts: SanitizeOptions::default(), mappings: &mappings, pv_restored: &keep_volume };
    sanitize::sanitize(group, objects::kind(obj), &mut o, &ctx);
    objects::remove_at(&mut o, "/metadata/ownerReferences");
    Some(o)
}

/// Writes every object of a backup under `dir`. Blocking.
pub fn export(repo: &Repository, backup: &str, dir: &Path, include_secret_values: bool) -> Result<ExportSummary> {
    let entry = crate::backup::find_backup(repo, backup)?;
    let catalog = Catalog::open(repo, &entry.snapshot.tree)?;
    let mut summary = ExportSummary { directory: dir.display().to_string(), ..Default::default() };
    for e in catalog.entries(&All)? {
        let obj = catalog.load(&e)?;
        let Some(mut clean) = clean(&obj) else {
            summary.skipped += 1;
            continue;
        };
        if !include_secret_values && crate::redact::is_secret(&clean) {
            crate::redact::redact(&mut clean);
            summary.secrets_redacted += 1;
        }
        let path = dir.join(export_path(&clean));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| Error::Io { what: format!("creating {}", parent.display()), source })?;
        }
        let yaml = serde_yaml::to_string(&clean)
            .map_err(|e| Error::invalid(format!("YAML of {}", path.display()), e.to_string()))?;
        std::fs::write(&path, yaml)
            .map_err(|source| Error::Io { what: format!("writing {}", path.display()), source })?;
        summary.written += 1;
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lays_out_by_namespace_and_kind() {
        let o =
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "a", "uid": "x"}});
        assert_eq!(export_path(&o), PathBuf::from("a/configmap/c.yaml"));
        let c = clean(&o).unwrap_or_default();
        assert!(c["metadata"].get("uid").is_none());
        let cr = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "system:x"}});
        assert_eq!(export_path(&cr), PathBuf::from("_cluster/clusterrole/system:x.yaml"));
    }
}
