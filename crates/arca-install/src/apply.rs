//! Pure helpers for applying the manifests: where an object lives in the
//! API, and what an apply did to it.

use serde_json::Value;

/// The object's URL path (`/api/v1/namespaces/NS/services/NAME`), from its
/// `apiVersion`, `kind` and metadata. Every kind of the install has the
/// regular plural (lowercase kind + `s`).
pub fn object_path(obj: &Value) -> Option<String> {
    let api_version = obj["apiVersion"].as_str()?;
    let kind = obj["kind"].as_str()?;
    let name = obj["metadata"]["name"].as_str()?;
    let prefix = if api_version.contains('/') { format!("/apis/{api_version}") } else { format!("/api/{api_version}") };
    let plural = format!("{}s", kind.to_ascii_lowercase());
    Some(match obj["metadata"]["namespace"].as_str() {
        Some(ns) => format!("{prefix}/namespaces/{ns}/{plural}/{name}"),
        None => format!("{prefix}/{plural}/{name}"),
    })
}

/// `created`, `configured` or `unchanged`: by the resourceVersion before
/// and after (an apply that changes nothing leaves it as it was).
pub fn outcome(before: Option<&Value>, after: &Value) -> &'static str {
    let version = |v: &Value| v["metadata"]["resourceVersion"].as_str().map(str::to_string);
    match before {
        None => "created",
        Some(b) if version(b) == version(after) => "unchanged",
        Some(_) => "configured",
    }
}

/// `kind.group/name`, as kubectl shows an object.
pub fn shown(obj: &Value) -> String {
    let kind = obj["kind"].as_str().unwrap_or("object").to_ascii_lowercase();
    let name = obj["metadata"]["name"].as_str().unwrap_or("?");
    match obj["apiVersion"].as_str().and_then(|v| v.split_once('/')) {
        Some((group, _)) => format!("{kind}.{group}/{name}"),
        None => format!("{kind}/{name}"),
    }
}

/// Whether a CRD's `Established` condition is `True`.
pub fn established(crd: &Value) -> bool {
    conditions(crd).any(|(t, s, _)| t == "Established" && s == "True")
}

/// `Type=Status (message)` of each condition, for a timeout's reason.
pub fn conditions_summary(crd: &Value) -> String {
    let parts: Vec<String> = conditions(crd).map(|(t, s, m)| format!("{t}={s} {m}").trim().to_string()).collect();
    if parts.is_empty() { "no conditions yet".to_string() } else { parts.join("; ") }
}

fn conditions(crd: &Value) -> impl Iterator<Item = (&str, &str, &str)> {
    crd["status"]["conditions"].as_array().into_iter().flatten().map(|c| {
        (
            c["type"].as_str().unwrap_or_default(),
            c["status"].as_str().unwrap_or_default(),
            c["message"].as_str().unwrap_or_default(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_of_each_kind() {
        let cases = [
            (json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}), "/api/v1/namespaces/a"),
            (
                json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "m", "namespace": "a"}}),
                "/api/v1/namespaces/a/services/m",
            ),
            (
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": "x"}}),
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/x",
            ),
            (
                json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition", "metadata": {"name": "backups.arca.io"}}),
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/backups.arca.io",
            ),
            (
                json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d", "namespace": "a"}}),
                "/apis/apps/v1/namespaces/a/daemonsets/d",
            ),
        ];
        for (obj, want) in cases {
            assert_eq!(object_path(&obj).as_deref(), Some(want));
        }
        assert_eq!(object_path(&json!({"kind": "Namespace"})), None);
    }

    #[test]
    fn outcomes_by_resource_version() {
        let rv = |v: &str| json!({"metadata": {"resourceVersion": v}});
        assert_eq!(outcome(None, &rv("1")), "created");
        assert_eq!(outcome(Some(&rv("1")), &rv("1")), "unchanged");
        assert_eq!(outcome(Some(&rv("1")), &rv("2")), "configured");
    }

    #[test]
    fn established_reads_the_condition() {
        let crd = |s: &str| json!({"status": {"conditions": [{"type": "Established", "status": s}]}});
        assert!(established(&crd("True")));
        assert!(!established(&crd("False")));
        assert!(!established(&json!({})));
        assert_eq!(conditions_summary(&json!({})), "no conditions yet");
    }

    #[test]
    fn shown_like_kubectl() {
        let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "arca-server"}});
        assert_eq!(shown(&obj), "deployment.apps/arca-server");
        assert_eq!(shown(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})), "namespace/a");
    }
}
