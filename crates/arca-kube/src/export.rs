//! `export`: a backup as clean, apply-able YAML files, one per object, laid
//! out as `<namespace or _cluster>/<kind>/<name>.yaml`, sanitized as for a
//! restore. What a Secret's values become is the caller's [`SecretValues`]:
//! redacted (the default), as stored, or encrypted for age recipients in the
//! SOPS format ([`sops`]).

pub mod sops;

use std::path::{Path, PathBuf};

use arca_repo::Repository;
use serde_json::{Value, json};

use crate::catalog::{All, Catalog};
use crate::error::{Error, Result};
use crate::objects;
use crate::restore::mapping::Mappings;
use crate::restore::sanitize::{self, Context, SanitizeOptions};

/// The annotation a redacted Secret carries: who redacted it and how to get the values.
pub const REDACTED_ANNOTATION: &str = "arca.io/redacted";
const REDACTED_NOTE: &str = "Secret values redacted by arca export; export again with --secrets sops-age \
     --age-recipient age1... (encrypted, safe for Git) or --secrets include (in clear) to get them";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// What an export does with Secret values.
#[derive(Debug, Clone, Default)]
pub enum SecretValues {
    /// Each value replaced by a placeholder (keys kept), the Secret annotated.
    #[default]
    Redact,
    /// Values as stored (base64 `data`), in clear.
    Include,
    /// Each Secret file encrypted in the SOPS format for these age recipients.
    SopsAge(sops::Recipients),
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ExportSummary {
    pub directory: String,
    pub written: u64,
    pub skipped: u64,
    /// `redact`, `include` or `sops-age`.
    pub secrets: String,
    pub secrets_redacted: u64,
    /// Secrets written with their values in clear (`--secrets include`).
    pub secrets_in_clear: u64,
    /// Secrets written as SOPS files.
    pub secrets_encrypted: u64,
    /// The age recipients SOPS files are encrypted for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub age_recipients: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Kube(#[from] Error),
    #[error("cannot write {path} as a SOPS file: {source}")]
    Sops {
        path: String,
        #[source]
        source: sops::SopsError,
    },
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

/// A Secret with its values replaced by placeholders and a note saying so.
fn redact_secret(obj: &mut Value) {
    crate::redact::redact(obj);
    let Some(metadata) = obj.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let annotations = metadata.entry("annotations").or_insert_with(|| json!({}));
    if !annotations.is_object() {
        *annotations = json!({});
    }
    if let Some(a) = annotations.as_object_mut() {
        a.insert(REDACTED_ANNOTATION.into(), json!(REDACTED_NOTE));
    }
}

/// Drops the last-applied annotation (it repeats the values, and SOPS
/// encrypts only `data` and `stringData`); `kubectl apply` writes it anew.
fn drop_last_applied(obj: &mut Value) {
    let Some(metadata) = obj.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    if let Some(a) = metadata.get_mut("annotations").and_then(Value::as_object_mut) {
        a.remove(LAST_APPLIED);
        if a.is_empty() {
            metadata.remove("annotations");
        }
    }
}

/// Writes every object of a backup under `dir`, Secrets as `secrets` says. Blocking.
pub fn export(
    repo: &Repository,
    backup: &str,
    dir: &Path,
    secrets: &SecretValues,
) -> Result<ExportSummary, ExportError> {
    let entry = crate::backup::find_backup(repo, backup)?;
    let catalog = Catalog::open(repo, &entry.snapshot.tree)?;
    let now = chrono::Utc::now();
    let mut summary = ExportSummary {
        directory: dir.display().to_string(),
        secrets: match secrets {
            SecretValues::Redact => "redact",
            SecretValues::Include => "include",
            SecretValues::SopsAge(_) => "sops-age",
        }
        .into(),
        age_recipients: match secrets {
            SecretValues::SopsAge(r) => r.names(),
            _ => Vec::new(),
        },
        ..Default::default()
    };
    for e in catalog.entries(&All)? {
        let obj = catalog.load(&e)?;
        let Some(mut clean) = clean(&obj) else {
            summary.skipped += 1;
            continue;
        };
        let path = dir.join(export_path(&clean));
        let is_secret = crate::redact::is_secret(&clean);
        let text = match secrets {
            SecretValues::SopsAge(recipients) if is_secret => {
                drop_last_applied(&mut clean);
                let text = sops::encrypt(&clean, recipients, now)
                    .map_err(|source| ExportError::Sops { path: path.display().to_string(), source })?;
                summary.secrets_encrypted += 1;
                text
            }
            _ => {
                match secrets {
                    SecretValues::Redact if is_secret => {
                        redact_secret(&mut clean);
                        summary.secrets_redacted += 1;
                    }
                    SecretValues::Include if is_secret => summary.secrets_in_clear += 1,
                    _ => {}
                }
                serde_yaml::to_string(&clean)
                    .map_err(|e| Error::invalid(format!("YAML of {}", path.display()), e.to_string()))?
            }
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| Error::Io { what: format!("creating {}", parent.display()), source })?;
        }
        std::fs::write(&path, text)
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

    #[test]
    fn redacted_secrets_keep_keys_and_say_how_to_get_values() {
        let mut s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
            "data": {"password": "c2VjcmV0"}});
        redact_secret(&mut s);
        assert_eq!(s["data"]["password"], "<redacted: 8 bytes>");
        let note = s["metadata"]["annotations"][REDACTED_ANNOTATION].as_str().unwrap_or_default();
        assert!(note.contains("--secrets include") && note.contains("--secrets sops-age"), "{note}");
        let mut odd = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"annotations": "x"}});
        redact_secret(&mut odd);
        assert!(odd["metadata"]["annotations"][REDACTED_ANNOTATION].is_string());
    }

    #[test]
    fn sops_exports_drop_the_last_applied_copy() {
        let mut s = json!({"metadata": {"annotations": {LAST_APPLIED: "{\"data\":{}}"}}});
        drop_last_applied(&mut s);
        assert!(s["metadata"].get("annotations").is_none(), "{s}");
        let mut t = json!({"metadata": {"annotations": {LAST_APPLIED: "{}", "team": "shop"}}});
        drop_last_applied(&mut t);
        assert_eq!(t["metadata"]["annotations"], json!({"team": "shop"}));
    }
}
