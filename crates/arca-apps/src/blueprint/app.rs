//! A bound application in the cluster: finding them, the pod and container
//! an action runs in, and the Secret values it gets (read with the API,
//! never printed).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arca_kube::api::Kube;
use arca_kube::exec::Target;
use base64::Engine as _;
use serde_json::Value;

use super::binding::{self, BINDABLE, Binding, Bindings};
use super::format::ContainerSelector;

/// An object bound to a blueprint.
#[derive(Debug, Clone)]
pub struct BoundApp {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// `Kind/NAMESPACE/NAME`.
    pub key: String,
    pub object: Value,
    pub binding: Binding,
}

impl BoundApp {
    pub fn of(kind: &str, object: Value, rules: &Bindings) -> Option<BoundApp> {
        if kind == "Pod" && binding::owned_by_workload(&object) {
            return None;
        }
        let binding = binding::binding(kind, &object, rules)?;
        let text = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or_default().to_string();
        Some(BoundApp {
            kind: kind.to_string(),
            namespace: text("/metadata/namespace"),
            name: text("/metadata/name"),
            key: binding::object_key(kind, &object),
            object,
            binding,
        })
    }
}

/// Every bound StatefulSet, Deployment and (bare) Pod that `wanted` keeps,
/// listed in `namespaces` only when they are named exactly.
pub async fn find(
    kube: &Kube,
    rules: &Bindings,
    namespaces: Option<&[String]>,
    wanted: impl Fn(&Value) -> bool,
) -> Result<Vec<BoundApp>, String> {
    let mut apps = Vec::new();
    for (kind, path) in BINDABLE {
        let (prefix, resource) = path.rsplit_once('/').unwrap_or_default();
        let listed = kube.list_all_in(prefix, resource, namespaces, "bound applications").await;
        for obj in listed.map_err(|e| e.to_string())? {
            if wanted(&obj) {
                apps.extend(BoundApp::of(kind, obj, rules));
            }
        }
    }
    apps.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(apps)
}

fn is_ready(pod: &Value) -> bool {
    let running = pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running");
    let ready = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
    running && ready && pod.pointer("/metadata/deletionTimestamp").is_none()
}

/// A Running and Ready pod of the application (the first by name), or why there is none.
pub async fn ready_pod(kube: &Kube, namespace: &str, kind: &str, name: &str, object: &Value) -> Result<Value, String> {
    if kind == "Pod" {
        let pod =
            kube.get(&format!("/api/v1/namespaces/{namespace}/pods/{name}"), "pod").await.map_err(|e| e.to_string())?;
        return if is_ready(&pod) { Ok(pod) } else { Err(format!("pod {namespace}/{name} is not Running and Ready")) };
    }
    let Some(labels) = binding::pod_labels(kind, object).filter(|l| !l.is_empty()) else {
        return Err(format!("{kind} {namespace}/{name} has no spec.selector.matchLabels to find its pods by"));
    };
    let selector: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let path = format!(
        "/api/v1/namespaces/{namespace}/pods?labelSelector={}",
        arca_kube::api::encode_query(&selector.join(","))
    );
    let list = kube.get(&path, "pods").await.map_err(|e| e.to_string())?;
    let mut pods: Vec<Value> = list["items"].as_array().cloned().unwrap_or_default();
    pods.sort_by(|a, b| a["metadata"]["name"].as_str().cmp(&b["metadata"]["name"].as_str()));
    let found = pods.len();
    pods.into_iter().find(is_ready).ok_or_else(|| {
        format!("{kind} {namespace}/{name} has no Running and Ready pod ({found} pod(s) match its selector)")
    })
}

/// [`ready_pod`], polled until `timeout`.
pub async fn wait_ready_pod(
    kube: &Kube,
    namespace: &str,
    kind: &str,
    name: &str,
    object: &Value,
    timeout: Duration,
) -> Result<Value, String> {
    let started = Instant::now();
    loop {
        match ready_pod(kube, namespace, kind, name, object).await {
            Ok(pod) => return Ok(pod),
            Err(why) if started.elapsed() >= timeout => {
                return Err(format!("not Ready within {}s: {why}", timeout.as_secs()));
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

fn containers(pod: &Value) -> Vec<&Value> {
    pod.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten().collect()
}

/// The container an action runs in: by name, else by image, else by env, else the first.
pub fn choose_container(pod: &Value, sel: &ContainerSelector) -> Result<String, String> {
    if sel.name.is_some() {
        return crate::hooks::choose_container(pod, sel.name.as_deref(), &[]);
    }
    let all = containers(pod);
    let name = |c: &Value| c["name"].as_str().unwrap_or_default().to_string();
    let by_image = all.iter().find(|c| {
        let image = c["image"].as_str().unwrap_or_default();
        sel.images.iter().any(|i| image.contains(i.as_str()))
    });
    if let Some(c) = by_image {
        return Ok(name(c));
    }
    let by_env = all.iter().find(|c| {
        c["env"].as_array().into_iter().flatten().any(|e| sel.env.iter().any(|v| e["name"].as_str() == Some(v)))
    });
    if let Some(c) = by_env {
        return Ok(name(c));
    }
    crate::hooks::choose_container(pod, None, &[])
}

pub fn target(pod: &Value, container: String) -> Target {
    Target {
        namespace: pod["metadata"]["namespace"].as_str().unwrap_or_default().to_string(),
        pod: pod["metadata"]["name"].as_str().unwrap_or_default().to_string(),
        container,
    }
}

/// The values of `secret_env` (`VAR: key`) from Secret `secret` in
/// `namespace`. Errors name the Secret and key, never a value.
pub async fn secret_values(
    kube: &Kube,
    namespace: &str,
    secret: Option<&str>,
    secret_env: &BTreeMap<String, String>,
    object: &str,
) -> Result<Vec<(String, String)>, String> {
    if secret_env.is_empty() {
        return Ok(Vec::new());
    }
    let Some(secret) = secret else {
        return Err(format!(
            "the blueprint takes values from a Secret but {object} names none: annotate it with {}",
            binding::SECRET_ANNOTATION
        ));
    };
    let obj = kube
        .get(&format!("/api/v1/namespaces/{namespace}/secrets/{secret}"), "secret")
        .await
        .map_err(|e| format!("reading Secret {namespace}/{secret}: {e}"))?;
    let mut out = Vec::new();
    for (var, key) in secret_env {
        let encoded = obj.pointer(&format!("/data/{key}")).and_then(Value::as_str).ok_or_else(|| {
            format!("Secret {namespace}/{secret} has no key {key:?} (the blueprint sets {var} from it)")
        })?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| format!("Secret {namespace}/{secret} key {key:?} is not valid base64"))?;
        let value = String::from_utf8(bytes)
            .map_err(|_| format!("Secret {namespace}/{secret} key {key:?} is not UTF-8 text"))?;
        out.push((var.clone(), value));
    }
    Ok(out)
}

/// The item as it goes into a stream's name: characters other than
/// letters, digits, `.`, `_`, `-` become `_` (the record keeps the item itself).
pub fn stream_safe(item: &str) -> String {
    item.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"namespace": "db", "name": "pg-0"},
               "spec": {"containers": [
                   {"name": "exporter", "image": "prom/postgres-exporter", "env": [{"name": "DATA_SOURCE_NAME"}]},
                   {"name": "db", "image": "docker.io/library/postgres:16", "env": [{"name": "POSTGRES_PASSWORD"}]}]}})
    }

    #[test]
    fn containers_by_name_image_env_then_first() {
        let by = |sel: ContainerSelector| choose_container(&pod(), &sel);
        let sel = |name: Option<&str>, images: &[&str], env: &[&str]| ContainerSelector {
            name: name.map(str::to_string),
            images: images.iter().map(|s| s.to_string()).collect(),
            env: env.iter().map(|s| s.to_string()).collect(),
        };
        assert_eq!(by(sel(Some("exporter"), &[], &[])).unwrap(), "exporter");
        assert!(by(sel(Some("nope"), &[], &[])).unwrap_err().contains("exporter, db"));
        assert_eq!(by(sel(None, &["library/postgres"], &[])).unwrap(), "db");
        assert_eq!(by(sel(None, &["mysql"], &["POSTGRES_PASSWORD"])).unwrap(), "db");
        assert_eq!(by(sel(None, &[], &[])).unwrap(), "exporter");
    }

    #[test]
    fn readiness_needs_running_and_ready() {
        let ready = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}, "metadata": {}});
        assert!(is_ready(&ready));
        let not = json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}, "metadata": {}});
        assert!(!is_ready(&not));
    }

    #[test]
    fn items_are_made_safe_for_stream_names() {
        assert_eq!(stream_safe("shop"), "shop");
        assert_eq!(stream_safe("my db/ü"), "my_db__");
    }
}
