//! Kubernetes version profiles: what each release serves, reports and
//! creates at start.

mod common;

use std::collections::BTreeSet;

use arca_testcluster::TestCluster;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, PostParams};
use serde_json::{Value, json};

/// `group/version: resources` that a real kube-apiserver of each release serves
/// by default (its discovery, as `kubectl api-resources` lists it per version).
/// `apiregistration.k8s.io` is left out: the aggregation layer checks it.
const SERVED_1_25: &[(&str, &str)] = &[
    (
        "v1",
        "bindings componentstatuses configmaps endpoints events limitranges namespaces nodes persistentvolumeclaims persistentvolumes pods podtemplates replicationcontrollers resourcequotas secrets serviceaccounts services",
    ),
    ("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations validatingwebhookconfigurations"),
    ("apiextensions.k8s.io/v1", "customresourcedefinitions"),
    ("apps/v1", "controllerrevisions daemonsets deployments replicasets statefulsets"),
    ("authentication.k8s.io/v1", "tokenreviews"),
    (
        "authorization.k8s.io/v1",
        "localsubjectaccessreviews selfsubjectaccessreviews selfsubjectrulesreviews subjectaccessreviews",
    ),
    ("autoscaling/v1", "horizontalpodautoscalers"),
    ("autoscaling/v2", "horizontalpodautoscalers"),
    ("autoscaling/v2beta2", "horizontalpodautoscalers"),
    ("batch/v1", "cronjobs jobs"),
    ("certificates.k8s.io/v1", "certificatesigningrequests"),
    ("coordination.k8s.io/v1", "leases"),
    ("discovery.k8s.io/v1", "endpointslices"),
    ("events.k8s.io/v1", "events"),
    ("flowcontrol.apiserver.k8s.io/v1beta1", "flowschemas prioritylevelconfigurations"),
    ("flowcontrol.apiserver.k8s.io/v1beta2", "flowschemas prioritylevelconfigurations"),
    ("networking.k8s.io/v1", "ingressclasses ingresses networkpolicies"),
    ("node.k8s.io/v1", "runtimeclasses"),
    ("policy/v1", "poddisruptionbudgets"),
    ("rbac.authorization.k8s.io/v1", "clusterrolebindings clusterroles rolebindings roles"),
    ("scheduling.k8s.io/v1", "priorityclasses"),
    ("storage.k8s.io/v1", "csidrivers csinodes csistoragecapacities storageclasses volumeattachments"),
    ("storage.k8s.io/v1beta1", "csistoragecapacities"),
];

const SERVED_1_29: &[(&str, &str)] = &[
    (
        "v1",
        "bindings componentstatuses configmaps endpoints events limitranges namespaces nodes persistentvolumeclaims persistentvolumes pods podtemplates replicationcontrollers resourcequotas secrets serviceaccounts services",
    ),
    ("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations validatingwebhookconfigurations"),
    ("apiextensions.k8s.io/v1", "customresourcedefinitions"),
    ("apps/v1", "controllerrevisions daemonsets deployments replicasets statefulsets"),
    ("authentication.k8s.io/v1", "selfsubjectreviews tokenreviews"),
    (
        "authorization.k8s.io/v1",
        "localsubjectaccessreviews selfsubjectaccessreviews selfsubjectrulesreviews subjectaccessreviews",
    ),
    ("autoscaling/v1", "horizontalpodautoscalers"),
    ("autoscaling/v2", "horizontalpodautoscalers"),
    ("batch/v1", "cronjobs jobs"),
    ("certificates.k8s.io/v1", "certificatesigningrequests"),
    ("coordination.k8s.io/v1", "leases"),
    ("discovery.k8s.io/v1", "endpointslices"),
    ("events.k8s.io/v1", "events"),
    ("flowcontrol.apiserver.k8s.io/v1", "flowschemas prioritylevelconfigurations"),
    ("flowcontrol.apiserver.k8s.io/v1beta3", "flowschemas prioritylevelconfigurations"),
    ("networking.k8s.io/v1", "ingressclasses ingresses networkpolicies"),
    ("node.k8s.io/v1", "runtimeclasses"),
    ("policy/v1", "poddisruptionbudgets"),
    ("rbac.authorization.k8s.io/v1", "clusterrolebindings clusterroles rolebindings roles"),
    ("scheduling.k8s.io/v1", "priorityclasses"),
    ("storage.k8s.io/v1", "csidrivers csinodes csistoragecapacities storageclasses volumeattachments"),
];

const SERVED_1_33: &[(&str, &str)] = &[
    (
        "v1",
        "bindings componentstatuses configmaps endpoints events limitranges namespaces nodes persistentvolumeclaims persistentvolumes pods podtemplates replicationcontrollers resourcequotas secrets serviceaccounts services",
    ),
    (
        "admissionregistration.k8s.io/v1",
        "mutatingwebhookconfigurations validatingadmissionpolicies validatingadmissionpolicybindings validatingwebhookconfigurations",
    ),
    ("apiextensions.k8s.io/v1", "customresourcedefinitions"),
    ("apps/v1", "controllerrevisions daemonsets deployments replicasets statefulsets"),
    ("authentication.k8s.io/v1", "selfsubjectreviews tokenreviews"),
    (
        "authorization.k8s.io/v1",
        "localsubjectaccessreviews selfsubjectaccessreviews selfsubjectrulesreviews subjectaccessreviews",
    ),
    ("autoscaling/v1", "horizontalpodautoscalers"),
    ("autoscaling/v2", "horizontalpodautoscalers"),
    ("batch/v1", "cronjobs jobs"),
    ("certificates.k8s.io/v1", "certificatesigningrequests"),
    ("coordination.k8s.io/v1", "leases"),
    ("discovery.k8s.io/v1", "endpointslices"),
    ("events.k8s.io/v1", "events"),
    ("flowcontrol.apiserver.k8s.io/v1", "flowschemas prioritylevelconfigurations"),
    ("networking.k8s.io/v1", "ingressclasses ingresses ipaddresses networkpolicies servicecidrs"),
    ("node.k8s.io/v1", "runtimeclasses"),
    ("policy/v1", "poddisruptionbudgets"),
    ("rbac.authorization.k8s.io/v1", "clusterrolebindings clusterroles rolebindings roles"),
    ("scheduling.k8s.io/v1", "priorityclasses"),
    ("storage.k8s.io/v1", "csidrivers csinodes csistoragecapacities storageclasses volumeattachments"),
];

/// Groups whose serving is checked elsewhere.
const OTHER_GROUPS: &[&str] = &["apiregistration.k8s.io"];

async fn start(version: &str) -> anyhow::Result<(TestCluster, Client)> {
    let cluster = TestCluster::builder().kubernetes_version(version).start().await?;
    let client = cluster.client().await?;
    Ok((cluster, client))
}

/// Every `group/version resource` the server's legacy discovery lists
/// (main resources, no subresources).
async fn served(client: &Client) -> anyhow::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut add = |gv: &str, list: k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList| {
        for r in list.resources.into_iter().filter(|r| !r.name.contains('/')) {
            out.insert(format!("{gv} {}", r.name));
        }
    };
    for v in client.list_core_api_versions().await?.versions {
        add(&v, client.list_core_api_resources(&v).await?);
    }
    for group in client.list_api_groups().await?.groups {
        if OTHER_GROUPS.contains(&group.name.as_str()) {
            continue;
        }
        for v in group.versions {
            add(&v.group_version, client.list_api_group_resources(&v.group_version).await?);
        }
    }
    Ok(out)
}

fn expected(table: &[(&str, &str)]) -> BTreeSet<String> {
    table.iter().flat_map(|(gv, resources)| resources.split_whitespace().map(move |r| format!("{gv} {r}"))).collect()
}

#[tokio::test]
async fn each_profile_serves_what_its_release_serves() -> anyhow::Result<()> {
    for (version, table) in [("1.25", SERVED_1_25), ("1.29", SERVED_1_29), ("1.33", SERVED_1_33)] {
        let (_c, client) = start(version).await?;
        let (got, want) = (served(&client).await?, expected(table));
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(missing.is_empty() && extra.is_empty(), "{version}: missing {missing:?}, not served upstream {extra:?}");
        let info = client.apiserver_version().await?;
        assert_eq!(info.git_version, format!("v{version}.0"));
        assert_eq!(format!("{}.{}", info.major, info.minor), version);
    }
    Ok(())
}

#[tokio::test]
async fn preferred_versions_follow_the_release() -> anyhow::Result<()> {
    let expect = [
        ("1.25", "flowcontrol.apiserver.k8s.io", "v1beta2"),
        ("1.29", "flowcontrol.apiserver.k8s.io", "v1"),
        ("1.33", "flowcontrol.apiserver.k8s.io", "v1"),
        ("1.25", "autoscaling", "v2"),
        ("1.33", "autoscaling", "v2"),
    ];
    for (version, group, preferred) in expect {
        let (_c, client) = start(version).await?;
        let groups = client.list_api_groups().await?.groups;
        let g = groups.iter().find(|g| g.name == group).ok_or_else(|| anyhow::anyhow!("{group} not served"))?;
        let got = g.preferred_version.as_ref().map(|p| p.version.clone());
        assert_eq!(got.as_deref(), Some(preferred), "{version} {group}");
        let aggregated = kube::Discovery::new(client.clone()).run_aggregated().await?;
        let ag = aggregated.get(group).ok_or_else(|| anyhow::anyhow!("{group} not in aggregated discovery"))?;
        assert_eq!(ag.preferred_version_or_latest(), preferred, "{version} {group} aggregated");
    }
    Ok(())
}

#[tokio::test]
async fn unknown_version_is_refused_naming_the_profiles() {
    let err = TestCluster::builder().kubernetes_version("1.27").start().await.err().map(|e| e.to_string());
    let err = err.unwrap_or_default();
    assert!(err.contains("1.27") && err.contains("1.25, 1.29, 1.33"), "{err}");
}

fn flowschema_api(version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("flowcontrol.apiserver.k8s.io", version, "FlowSchema"),
        "flowschemas",
    )
}

fn flowschema(version: &str) -> anyhow::Result<DynamicObject> {
    Ok(serde_json::from_value(json!({
        "apiVersion": format!("flowcontrol.apiserver.k8s.io/{version}"),
        "kind": "FlowSchema",
        "metadata": {"name": "backup-tool"},
        "spec": {
            "priorityLevelConfiguration": {"name": "workload-low"},
            "matchingPrecedence": 1000,
            "distinguisherMethod": {"type": "ByUser"},
            "rules": [{"subjects": [{"kind": "ServiceAccount", "serviceAccount": {"name": "arca", "namespace": "arca-system"}}],
                       "resourceRules": [{"verbs": ["list"], "apiGroups": ["*"], "resources": ["*"], "clusterScope": true, "namespaces": ["*"]}]}],
        },
    }))?)
}

#[tokio::test]
async fn flowschema_v1beta2_round_trips_on_1_25_and_is_gone_on_1_33() -> anyhow::Result<()> {
    let (old, old_client) = start("1.25").await?;
    let api: Api<DynamicObject> = Api::all_with(old_client.clone(), &flowschema_api("v1beta2"));
    api.create(&PostParams::default(), &flowschema("v1beta2")?).await?;
    let back = api.get("backup-tool").await?;
    assert_eq!(back.types.as_ref().map(|t| t.api_version.as_str()), Some("flowcontrol.apiserver.k8s.io/v1beta2"));
    assert_eq!(back.data.pointer("/spec/matchingPrecedence"), Some(&json!(1000)));
    let v1beta1: Api<DynamicObject> = Api::all_with(old_client, &flowschema_api("v1beta1"));
    let same = v1beta1.get("backup-tool").await?;
    assert_eq!(same.types.map(|t| t.api_version), Some("flowcontrol.apiserver.k8s.io/v1beta1".into()));
    assert!(old.object("flowcontrol.apiserver.k8s.io", "flowschemas", "", "backup-tool").is_some());

    let (_new, new_client) = start("1.33").await?;
    let gone: Api<DynamicObject> = Api::all_with(new_client.clone(), &flowschema_api("v1beta2"));
    let status = common::status_of(gone.create(&PostParams::default(), &flowschema("v1beta2")?).await);
    assert_eq!(status.code, 404);
    assert_eq!(common::status_of(gone.list(&ListParams::default()).await).code, 404);
    let discovery = new_client.list_api_group_resources("flowcontrol.apiserver.k8s.io/v1beta2").await;
    assert!(matches!(discovery, Err(kube::Error::Api(s)) if s.code == 404));
    let v1: Api<DynamicObject> = Api::all_with(new_client, &flowschema_api("v1"));
    v1.create(&PostParams::default(), &flowschema("v1")?).await?;
    Ok(())
}

fn plc_api(version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("flowcontrol.apiserver.k8s.io", version, "PriorityLevelConfiguration"),
        "prioritylevelconfigurations",
    )
}

#[tokio::test]
async fn apf_defaults_exist_at_the_release_version() -> anyhow::Result<()> {
    let names = [
        "exempt",
        "probes",
        "system-leader-election",
        "endpoint-controller",
        "workload-leader-election",
        "system-node-high",
        "system-nodes",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-system-service-accounts",
        "service-accounts",
        "global-default",
        "catch-all",
    ];
    for (version, fc) in [("1.25", "v1beta2"), ("1.29", "v1"), ("1.33", "v1")] {
        let (_c, client) = start(version).await?;
        let schemas: Api<DynamicObject> = Api::all_with(client.clone(), &flowschema_api(fc));
        let list = schemas.list(&ListParams::default()).await?;
        let got: BTreeSet<String> = list.items.iter().filter_map(|o| o.metadata.name.clone()).collect();
        assert_eq!(got, names.iter().map(|s| s.to_string()).collect(), "{version}");
        for fs in &list.items {
            let annotations = fs.metadata.annotations.clone().unwrap_or_default();
            assert_eq!(annotations.get("apf.kubernetes.io/autoupdate-spec").map(String::as_str), Some("true"));
            assert_eq!(fs.data.pointer("/status/conditions/0/type"), Some(&json!("Dangling")));
            assert_eq!(fs.data.pointer("/status/conditions/0/status"), Some(&json!("False")));
        }
        let levels: Api<DynamicObject> = Api::all_with(client, &plc_api(fc));
        let global = levels.get("global-default").await?;
        let limited = global.data.pointer("/spec/limited").cloned().unwrap_or(Value::Null);
        if fc == "v1beta2" {
            // v1beta2 names the field `assuredConcurrencyShares` and has no lending.
            assert_eq!(limited.get("assuredConcurrencyShares"), Some(&json!(20)), "{limited}");
            assert!(limited.get("nominalConcurrencyShares").is_none() && limited.get("lendablePercent").is_none());
        } else {
            assert_eq!(limited.get("nominalConcurrencyShares"), Some(&json!(20)), "{limited}");
            assert_eq!(limited.get("lendablePercent"), Some(&json!(50)));
        }
        let exempt = levels.get("exempt").await?;
        assert_eq!(exempt.data.pointer("/spec/type"), Some(&json!("Exempt")));
    }
    Ok(())
}
