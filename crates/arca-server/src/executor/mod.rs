//! A `BackupSpec` or `RestoreSpec` carried out with the libraries the CLI
//! uses, and the result turned into status.

pub mod backup;
pub mod progress;
pub mod restore;

use arca_api::common::{Issue, MAX_ISSUES};
use arca_kube::filter::{ClusterResources, FilterSpec};

/// The first [`MAX_ISSUES`] issues, and how many there were in all.
pub fn capped(all: impl IntoIterator<Item = Issue>) -> (Vec<Issue>, u32) {
    let mut kept = Vec::new();
    let mut count = 0u32;
    for issue in all {
        count = count.saturating_add(1);
        if kept.len() < MAX_ISSUES {
            kept.push(issue);
        }
    }
    (kept, count)
}

pub fn issue(reason: &str, message: impl Into<String>, object: Option<String>) -> Issue {
    Issue { reason: reason.to_string(), message: message.into(), object }
}

/// A spec's selection as the library's filter.
#[allow(clippy::too_many_arguments)]
pub fn filter(
    include_namespaces: &[String],
    exclude_namespaces: &[String],
    include_resources: &[String],
    exclude_resources: &[String],
    selector: Option<&String>,
    or_selectors: &[String],
    include_cluster_resources: Option<&String>,
) -> Result<FilterSpec, String> {
    let cluster = include_cluster_resources.map(String::as_str).unwrap_or("auto");
    Ok(FilterSpec {
        include_namespaces: include_namespaces.to_vec(),
        exclude_namespaces: exclude_namespaces.to_vec(),
        include_resources: include_resources.to_vec(),
        exclude_resources: exclude_resources.to_vec(),
        selector: selector.cloned(),
        or_selectors: or_selectors.to_vec(),
        include_cluster_resources: cluster
            .parse::<ClusterResources>()
            .map_err(|e| format!("includeClusterResources: {e}"))?,
    })
}

/// Tenant mode: work is bounded to the object's own namespace and no
/// cluster-scoped object. A spec asking for more is refused (reason
/// `TenantScope`), never silently narrowed into something else.
pub fn tenant_scope(
    namespace: &str,
    include_namespaces: &[String],
    include_cluster_resources: Option<&String>,
) -> Result<(Vec<String>, String), String> {
    if let Some(other) = include_namespaces.iter().find(|n| n.as_str() != namespace) {
        return Err(format!(
            "in tenant mode a backup or restore in namespace {namespace} covers only that namespace; \
             includeNamespaces names {other:?}: remove it or create the object in that namespace"
        ));
    }
    if include_cluster_resources.is_some_and(|c| c == "true") {
        return Err(format!(
            "in tenant mode a backup or restore in namespace {namespace} covers no cluster-scoped objects: \
             remove includeClusterResources: true"
        ));
    }
    Ok((vec![namespace.to_string()], "false".to_string()))
}

/// The reason of an error the server could not get past, as a status reason.
pub const REASON_FAILED: &str = "BackupFailed";
pub const REASON_TENANT_SCOPE: &str = "TenantScope";
pub const REASON_SERVER_STOPPED: &str = "ServerStopped";
pub const REASON_INVALID: &str = "InvalidSpec";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_are_capped_and_counted() {
        let all = (0..MAX_ISSUES + 7).map(|i| issue("X", format!("{i}"), None));
        let (kept, count) = capped(all);
        assert_eq!(kept.len(), MAX_ISSUES);
        assert_eq!(count as usize, MAX_ISSUES + 7);
        assert_eq!(kept[0].message, "0");
    }

    #[test]
    fn tenant_scope_table() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let t = "true".to_string();
        let f = "false".to_string();
        let cases: Vec<(Vec<String>, Option<&String>, bool)> = vec![
            (s(&[]), None, true),
            (s(&["team-a"]), None, true),
            (s(&["team-a"]), Some(&f), true),
            (s(&["team-b"]), None, false),
            (s(&["team-a", "*"]), None, false),
            (s(&[]), Some(&t), false),
        ];
        for (include, cluster, ok) in cases {
            let got = tenant_scope("team-a", &include, cluster);
            assert_eq!(got.is_ok(), ok, "{include:?} {cluster:?}: {got:?}");
            if let Ok((ns, c)) = got {
                assert_eq!(ns, vec!["team-a"]);
                assert_eq!(c, "false");
            }
        }
    }

    #[test]
    fn a_bad_cluster_resources_value_is_named() {
        let bad = "sometimes".to_string();
        let e = filter(&[], &[], &[], &[], None, &[], Some(&bad)).unwrap_err();
        assert!(e.contains("includeClusterResources"), "{e}");
    }
}
