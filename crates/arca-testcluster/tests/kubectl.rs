//! The same scenarios through `kubectl`, when it is installed.

mod common;

use std::path::Path;
use std::process::Output;

use arca_testcluster::TestCluster;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};

fn kubectl_available() -> bool {
    let found =
        std::process::Command::new("kubectl").args(["version", "--client"]).output().is_ok_and(|o| o.status.success());
    if !found {
        println!("skipped: kubectl is not on PATH");
    }
    found
}

async fn kubectl(cluster: &TestCluster, cache: &Path, args: &[&str], stdin: Option<&str>) -> anyhow::Result<Output> {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(cluster.kubeconfig_path())
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn()?;
    if let Some(mut w) = child.stdin.take() {
        if let Some(input) = stdin {
            w.write_all(input.as_bytes()).await?;
        }
    }
    Ok(child.wait_with_output().await?)
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

const MANIFEST: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  names: {kind: Gadget, plural: gadgets, singular: gadget, shortNames: [gd]}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: v1
kind: Namespace
metadata: {name: kt}
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: g1, namespace: kt}
spec: {size: 1}
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: g2, namespace: kt}
spec: {size: 2}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c1, namespace: kt}
data: {a: b}
"#;

#[tokio::test]
async fn kubectl_apply_get_delete_manifest_with_crd() -> anyhow::Result<()> {
    if !kubectl_available() {
        return Ok(());
    }
    let cluster = TestCluster::start().await?;
    let cache = tempfile::tempdir()?;
    let client = cluster.client().await?;
    // As on a real cluster, custom resources in the same manifest as their CRD may
    // need a second apply ("ensure CRDs are installed first").
    let first = kubectl(&cluster, cache.path(), &["apply", "-f", "-"], Some(MANIFEST)).await?;
    let out = text(&first);
    assert!(out.contains("customresourcedefinition.apiextensions.k8s.io/gadgets.example.com created"), "{out}");
    let second = kubectl(&cluster, cache.path(), &["apply", "-f", "-"], Some(MANIFEST)).await?;
    assert!(second.status.success(), "{}", text(&second));

    let get = kubectl(&cluster, cache.path(), &["get", "gadgets", "-n", "kt", "-o", "name"], None).await?;
    assert_eq!(String::from_utf8_lossy(&get.stdout), "gadget.example.com/g1\ngadget.example.com/g2\n");
    let get =
        kubectl(&cluster, cache.path(), &["get", "gd", "g2", "-n", "kt", "-o", "jsonpath={.spec.size}"], None).await?;
    assert_eq!(String::from_utf8_lossy(&get.stdout), "2");
    let table = kubectl(&cluster, cache.path(), &["get", "configmaps", "-n", "kt"], None).await?;
    assert!(text(&table).contains("c1"), "{}", text(&table));

    // The objects are visible to kube::Client too.
    let ar = ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk("example.com", "v1", "Gadget"), "gadgets");
    let gadgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "kt", &ar);
    assert_eq!(gadgets.list(&ListParams::default()).await?.items.len(), 2);

    // Client-side apply of a change, then server-side apply.
    let changed = MANIFEST.replace("data: {a: b}", "data: {a: changed}");
    let out = kubectl(&cluster, cache.path(), &["apply", "-f", "-"], Some(&changed)).await?;
    assert!(out.status.success(), "{}", text(&out));
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "kt");
    let cm = cms.get("c1").await?;
    assert_eq!(cm.data.and_then(|d| d.get("a").cloned()).as_deref(), Some("changed"));
    let out = kubectl(&cluster, cache.path(), &["apply", "--server-side", "-f", "-"], Some(MANIFEST)).await?;
    assert!(text(&out).contains("serverside-applied"), "{}", text(&out));

    let del =
        kubectl(&cluster, cache.path(), &["delete", "-f", "-", "--ignore-not-found", "--wait=true"], Some(MANIFEST))
            .await?;
    assert!(del.status.success(), "{}", text(&del));
    let crd = kubectl(&cluster, cache.path(), &["get", "crd", "gadgets.example.com"], None).await?;
    assert!(text(&crd).contains("NotFound"), "{}", text(&crd));
    Ok(())
}

#[tokio::test]
async fn kubectl_api_resources_exec_logs_and_paging() -> anyhow::Result<()> {
    if !kubectl_available() {
        return Ok(());
    }
    let cluster = TestCluster::start().await?;
    let cache = tempfile::tempdir()?;
    let out = kubectl(&cluster, cache.path(), &["api-resources", "-o", "name"], None).await?;
    let names = String::from_utf8_lossy(&out.stdout).to_string();
    for r in
        ["pods", "deployments.apps", "customresourcedefinitions.apiextensions.k8s.io", "leases.coordination.k8s.io"]
    {
        assert!(names.lines().any(|l| l == r), "{r} missing in {names}");
    }
    let pods = r#"
apiVersion: v1
kind: Pod
metadata: {name: sleeper, namespace: default}
spec:
  containers: [{name: main, image: busybox}]
---
apiVersion: v1
kind: Pod
metadata: {name: echo, namespace: default}
spec:
  restartPolicy: Never
  containers: [{name: main, image: busybox, command: [sh, -c, "echo from-echo"]}]
"#;
    let out = kubectl(&cluster, cache.path(), &["apply", "-f", "-"], Some(pods)).await?;
    assert!(out.status.success(), "{}", text(&out));
    let out = kubectl(
        &cluster,
        cache.path(),
        &["wait", "--for=jsonpath={.status.phase}=Running", "pod/sleeper", "--timeout=20s"],
        None,
    )
    .await?;
    assert!(out.status.success(), "{}", text(&out));
    let out = kubectl(&cluster, cache.path(), &["exec", "sleeper", "--", "sh", "-c", "echo hi; exit 3"], None).await?;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let out = kubectl(&cluster, cache.path(), &["exec", "-i", "sleeper", "--", "cat"], Some("piped\n")).await?;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "piped\n", "{}", text(&out));

    let out = kubectl(
        &cluster,
        cache.path(),
        &["wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/echo", "--timeout=20s"],
        None,
    )
    .await?;
    assert!(out.status.success(), "{}", text(&out));
    let out = kubectl(&cluster, cache.path(), &["logs", "echo"], None).await?;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "from-echo\n");

    let out =
        kubectl(&cluster, cache.path(), &["get", "configmaps", "-A", "--chunk-size=2", "-o", "name"], None).await?;
    // kube-root-ca.crt in each of the four namespaces, extension-apiserver-authentication.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 5, "{}", text(&out));
    Ok(())
}

#[tokio::test]
async fn kubectl_sees_the_release_profile() -> anyhow::Result<()> {
    if !kubectl_available() {
        return Ok(());
    }
    let cluster = TestCluster::builder().kubernetes_version("1.25").start().await?;
    let cache = tempfile::tempdir()?;
    let out = kubectl(&cluster, cache.path(), &["api-resources", "-o", "name"], None).await?;
    assert!(out.status.success(), "{}", text(&out));
    let names = String::from_utf8_lossy(&out.stdout).to_string();
    for r in [
        "bindings",
        "componentstatuses",
        "podtemplates",
        "flowschemas.flowcontrol.apiserver.k8s.io",
        "runtimeclasses.node.k8s.io",
        "certificatesigningrequests.certificates.k8s.io",
        "tokenreviews.authentication.k8s.io",
        "selfsubjectaccessreviews.authorization.k8s.io",
    ] {
        assert!(names.lines().any(|l| l == r), "{r} missing in {names}");
    }
    let out = kubectl(&cluster, cache.path(), &["api-versions"], None).await?;
    let versions = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(versions.lines().any(|l| l == "flowcontrol.apiserver.k8s.io/v1beta2"), "{versions}");
    assert!(!versions.lines().any(|l| l == "flowcontrol.apiserver.k8s.io/v1"), "{versions}");
    assert!(!versions.lines().any(|l| l == "policy/v1beta1"), "{versions}");
    let out = kubectl(&cluster, cache.path(), &["get", "flowschemas", "-o", "name"], None).await?;
    assert!(String::from_utf8_lossy(&out.stdout).contains("flowschema.flowcontrol.apiserver.k8s.io/catch-all"), "{}", text(&out));
    let out = kubectl(&cluster, cache.path(), &["auth", "can-i", "delete", "nodes"], None).await?;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes", "{}", text(&out));
    let out = kubectl(&cluster, cache.path(), &["get", "componentstatuses"], None).await?;
    assert!(text(&out).contains("etcd-0"), "{}", text(&out));
    Ok(())
}
