//! The app-centric closure: when namespaces or selectors narrow a backup,
//! the cluster-scoped objects the selection depends on are pulled in, each
//! with the reason it was. Pure: [`Closure::observe`] every included object,
//! then ask [`Closure::reason_for`] about cluster-scoped candidates.
//!
//! The reference rules are a table ([`REFERENCES`]): adding a dependency
//! means adding a row.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::objects::{self, ResourceType, group_resource};

/// A cluster-scoped object the selection needs: (group-resource, name).
type Want = (String, String);

/// A reference rule: objects of (group, kind) point at cluster-scoped objects
/// of `target` (a group-resource) through the string at each JSON pointer.
pub struct Reference {
    pub group: &'static str,
    pub kind: &'static str,
    pub pointers: &'static [&'static str],
    pub target: &'static str,
    pub why: &'static str,
}

const POD_TEMPLATE_PRIORITY: &[&str] = &["/spec/template/spec/priorityClassName"];

/// Every reference rule (roleRef of bindings is handled apart: it names a kind).
pub const REFERENCES: &[Reference] = &[
    Reference {
        group: "",
        kind: "PersistentVolumeClaim",
        pointers: &["/spec/volumeName"],
        target: "persistentvolumes",
        why: "bound to",
    },
    Reference {
        group: "",
        kind: "PersistentVolumeClaim",
        pointers: &["/spec/storageClassName"],
        target: "storageclasses.storage.k8s.io",
        why: "storage class of",
    },
    Reference {
        group: "",
        kind: "PersistentVolume",
        pointers: &["/spec/storageClassName"],
        target: "storageclasses.storage.k8s.io",
        why: "storage class of",
    },
    Reference {
        group: "",
        kind: "Pod",
        pointers: &["/spec/priorityClassName"],
        target: "priorityclasses.scheduling.k8s.io",
        why: "priority class of",
    },
    Reference {
        group: "apps",
        kind: "Deployment",
        pointers: POD_TEMPLATE_PRIORITY,
        target: "priorityclasses.scheduling.k8s.io",
        why: "priority class of",
    },
    Reference {
        group: "apps",
        kind: "StatefulSet",
        pointers: POD_TEMPLATE_PRIORITY,
        target: "priorityclasses.scheduling.k8s.io",
        why: "priority class of",
    },
    Reference {
        group: "apps",
        kind: "DaemonSet",
        pointers: POD_TEMPLATE_PRIORITY,
        target: "priorityclasses.scheduling.k8s.io",
        why: "priority class of",
    },
    Reference {
        group: "apps",
        kind: "ReplicaSet",
        pointers: POD_TEMPLATE_PRIORITY,
        target: "priorityclasses.scheduling.k8s.io",
        why: "priority class of",
    },
    Reference {
        group: "batch",
        kind: "Job",
        pointers: POD_TEMPLATE_PRIORITY,
        target: "priorityclasses.scheduling.k8s.io",
        why: "priority class of",
    },
    Reference {
        group: "batch",
        kind: "CronJob",
        pointers: &["/spec/jobTemplate/spec/template/spec/priorityClassName"],
        target: "priorityclasses.scheduling.k8s.io",
        why: "priority class of",
    },
    Reference {
        group: "networking.k8s.io",
        kind: "Ingress",
        pointers: &["/spec/ingressClassName"],
        target: "ingressclasses.networking.k8s.io",
        why: "ingress class of",
    },
    Reference {
        group: "snapshot.storage.k8s.io",
        kind: "VolumeSnapshot",
        pointers: &["/spec/volumeSnapshotClassName"],
        target: "volumesnapshotclasses.snapshot.storage.k8s.io",
        why: "snapshot class of",
    },
];

const CRD: &str = "customresourcedefinitions.apiextensions.k8s.io";
const CLUSTER_ROLES: &str = "clusterroles.rbac.authorization.k8s.io";
const CLUSTER_ROLE_BINDINGS: &str = "clusterrolebindings.rbac.authorization.k8s.io";
const NAMESPACES: &str = "namespaces";

/// The order cluster-scoped types are visited in a closure backup: a type
/// whose objects add wants must come before the types they point at.
pub fn cluster_visit_rank(rt: &ResourceType) -> u8 {
    visit_rank(&rt.group_resource())
}

/// [`cluster_visit_rank`] of a group-resource.
pub fn visit_rank(group_resource: &str) -> u8 {
    match group_resource {
        CLUSTER_ROLE_BINDINGS => 0,
        "persistentvolumes" => 1,
        _ => 2,
    }
}

#[derive(Debug, Default, Clone)]
pub struct Closure {
    wants: BTreeMap<Want, String>,
    service_accounts: BTreeSet<(String, String)>,
}

impl Closure {
    fn want(&mut self, target: &str, name: &str, reason: String) {
        if !name.is_empty() {
            self.wants.entry((target.to_string(), name.to_string())).or_insert(reason);
        }
    }

    /// Records what an included object depends on.
    pub fn observe(&mut self, rt: &ResourceType, obj: &Value) {
        let me = objects::describe(&rt.kind, objects::namespace(obj), objects::name(obj));
        if let Some(ns) = objects::namespace(obj) {
            self.want(NAMESPACES, ns, format!("namespace of {me}"));
        }
        if !rt.group.is_empty() {
            self.want(CRD, &rt.group_resource(), format!("definition of {me}"));
        }
        for r in REFERENCES.iter().filter(|r| r.group == rt.group && r.kind == rt.kind) {
            for p in r.pointers {
                if let Some(target) = objects::str_at(obj, p) {
                    self.want(r.target, target, format!("{} {me}", r.why));
                }
            }
        }
        if rt.group == "apps" && rt.kind == "StatefulSet" {
            for t in obj.pointer("/spec/volumeClaimTemplates").and_then(Value::as_array).into_iter().flatten() {
                if let Some(sc) = objects::str_at(t, "/spec/storageClassName") {
                    self.want("storageclasses.storage.k8s.io", sc, format!("storage class of {me}"));
                }
            }
        }
        if rt.group.is_empty() && rt.kind == "ServiceAccount" {
            if let Some(ns) = objects::namespace(obj) {
                self.service_accounts.insert((ns.to_string(), objects::name(obj).to_string()));
            }
        }
        let is_binding =
            rt.group == "rbac.authorization.k8s.io" && matches!(rt.kind.as_str(), "RoleBinding" | "ClusterRoleBinding");
        if is_binding && objects::str_at(obj, "/roleRef/kind") == Some("ClusterRole") {
            if let Some(role) = objects::str_at(obj, "/roleRef/name") {
                self.want(CLUSTER_ROLES, role, format!("role of {me}"));
            }
        }
    }

    /// Why a cluster-scoped object belongs in the backup, if it does.
    pub fn reason_for(&self, rt: &ResourceType, obj: &Value) -> Option<String> {
        let gr = rt.group_resource();
        let name = objects::name(obj);
        if let Some(why) = self.wants.get(&(gr.clone(), name.to_string())) {
            return Some(why.clone());
        }
        if gr == CLUSTER_ROLE_BINDINGS {
            return self.bound_service_account(obj).map(|(ns, sa)| format!("binds included serviceaccount/{ns}/{sa}"));
        }
        None
    }

    fn bound_service_account<'a>(&self, obj: &'a Value) -> Option<(&'a str, &'a str)> {
        obj.get("subjects")?.as_array()?.iter().find_map(|s| {
            if objects::str_at(s, "/kind")? != "ServiceAccount" {
                return None;
            }
            let (ns, name) = (objects::str_at(s, "/namespace")?, objects::str_at(s, "/name")?);
            self.service_accounts.contains(&(ns.to_string(), name.to_string())).then_some((ns, name))
        })
    }

    /// Whether any object of this group-resource is wanted by name.
    pub fn wants_any(&self, group: &str, resource: &str) -> bool {
        let gr = group_resource(group, resource);
        gr == CLUSTER_ROLE_BINDINGS && !self.service_accounts.is_empty() || self.wants.keys().any(|(g, _)| *g == gr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rt(group: &str, resource: &str, kind: &str, namespaced: bool) -> ResourceType {
        ResourceType {
            group: group.into(),
            version: "v1".into(),
            resource: resource.into(),
            kind: kind.into(),
            namespaced,
            verbs: vec![],
            short_names: vec![],
            singular: String::new(),
            has_status: false,
        }
    }

    #[test]
    fn pvc_pulls_its_volume_and_class_then_the_volume_its_class() {
        let mut c = Closure::default();
        let pvc = json!({"kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "app"},
            "spec": {"volumeName": "pv-1", "storageClassName": "fast"}});
        c.observe(&rt("", "persistentvolumeclaims", "PersistentVolumeClaim", true), &pvc);
        let pv_rt = rt("", "persistentvolumes", "PersistentVolume", false);
        let pv = json!({"metadata": {"name": "pv-1"}, "spec": {"storageClassName": "slow"}});
        assert_eq!(c.reason_for(&pv_rt, &pv).as_deref(), Some("bound to persistentvolumeclaim/app/data"));
        c.observe(&pv_rt, &pv);
        let sc_rt = rt("storage.k8s.io", "storageclasses", "StorageClass", false);
        assert!(c.reason_for(&sc_rt, &json!({"metadata": {"name": "slow"}})).is_some());
        assert!(c.reason_for(&sc_rt, &json!({"metadata": {"name": "fast"}})).is_some());
        assert!(c.reason_for(&sc_rt, &json!({"metadata": {"name": "other"}})).is_none());
        let ns_rt = rt("", "namespaces", "Namespace", false);
        assert!(c.reason_for(&ns_rt, &json!({"metadata": {"name": "app"}})).is_some());
    }

    #[test]
    fn crds_of_custom_resources_and_bindings_of_service_accounts() {
        let mut c = Closure::default();
        c.observe(&rt("example.com", "widgets", "Widget", true), &json!({"metadata": {"name": "w", "namespace": "a"}}));
        c.observe(
            &rt("", "serviceaccounts", "ServiceAccount", true),
            &json!({"metadata": {"name": "bot", "namespace": "a"}}),
        );
        let crd_rt = rt("apiextensions.k8s.io", "customresourcedefinitions", "CustomResourceDefinition", false);
        assert!(c.reason_for(&crd_rt, &json!({"metadata": {"name": "widgets.example.com"}})).is_some());
        let crb_rt = rt("rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", false);
        let crb = json!({"metadata": {"name": "bot-view"}, "roleRef": {"kind": "ClusterRole", "name": "view"},
            "subjects": [{"kind": "ServiceAccount", "namespace": "a", "name": "bot"}]});
        assert_eq!(c.reason_for(&crb_rt, &crb).as_deref(), Some("binds included serviceaccount/a/bot"));
        let other = json!({"metadata": {"name": "x"}, "subjects": [{"kind": "ServiceAccount", "namespace": "b", "name": "bot"}]});
        assert!(c.reason_for(&crb_rt, &other).is_none());
        c.observe(&crb_rt, &crb);
        let cr_rt = rt("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", false);
        assert_eq!(
            c.reason_for(&cr_rt, &json!({"metadata": {"name": "view"}})).as_deref(),
            Some("role of clusterrolebinding/bot-view")
        );
    }

    #[test]
    fn ingress_class_and_priority_class_from_templates() {
        let mut c = Closure::default();
        c.observe(
            &rt("networking.k8s.io", "ingresses", "Ingress", true),
            &json!({"metadata": {"name": "i", "namespace": "a"}, "spec": {"ingressClassName": "nginx"}}),
        );
        c.observe(&rt("batch", "cronjobs", "CronJob", true),
            &json!({"metadata": {"name": "c", "namespace": "a"}, "spec": {"jobTemplate": {"spec": {"template": {"spec": {"priorityClassName": "high"}}}}}}));
        assert!(
            c.reason_for(
                &rt("networking.k8s.io", "ingressclasses", "IngressClass", false),
                &json!({"metadata": {"name": "nginx"}})
            )
            .is_some()
        );
        assert!(
            c.reason_for(
                &rt("scheduling.k8s.io", "priorityclasses", "PriorityClass", false),
                &json!({"metadata": {"name": "high"}})
            )
            .is_some()
        );
    }
}
