//! Which container a hook runs in: the named one; else the one that mounts
//! the volume being snapshotted; else the first application container.
//! Native sidecars (init containers with `restartPolicy: Always`) run for
//! the pod's life and are valid targets; other init containers are not.

use serde_json::Value;

/// The containers a hook can run in, application containers first.
fn candidates(pod: &Value) -> Vec<&Value> {
    let apps = pod.pointer("/spec/containers").and_then(Value::as_array).into_iter().flatten();
    let sidecars = pod
        .pointer("/spec/initContainers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|c| c.get("restartPolicy").and_then(Value::as_str) == Some("Always"));
    apps.chain(sidecars).collect()
}

fn name(c: &Value) -> &str {
    c.get("name").and_then(Value::as_str).unwrap_or_default()
}

fn mounts(c: &Value, volume: &str) -> bool {
    c.get("volumeMounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|m| m.get("name").and_then(Value::as_str) == Some(volume))
}

/// The container for a hook in `pod`: `named` if given (an error listing
/// the pod's containers if it has no such one), else the first that mounts
/// one of `volumes` (pod volume names), else the first application container.
pub fn choose_container(pod: &Value, named: Option<&str>, volumes: &[&str]) -> Result<String, String> {
    let all = candidates(pod);
    let pod_name = format!(
        "{}/{}",
        pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default(),
        pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default()
    );
    if let Some(wanted) = named.filter(|n| !n.is_empty()) {
        if all.iter().any(|c| name(c) == wanted) {
            return Ok(wanted.to_string());
        }
        let names: Vec<&str> = all.iter().map(|c| name(c)).collect();
        return Err(format!(
            "pod {pod_name} has no container {wanted:?} to run the hook in; its containers: {}",
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        ));
    }
    if let Some(c) = volumes.iter().find_map(|v| all.iter().find(|c| mounts(c, v))) {
        return Ok(name(c).to_string());
    }
    all.first()
        .map(|c| name(c).to_string())
        .ok_or_else(|| format!("pod {pod_name} has no container to run the hook in"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({
            "metadata": {"namespace": "db", "name": "pg-0"},
            "spec": {
                "initContainers": [
                    {"name": "init-perms"},
                    {"name": "log-shipper", "restartPolicy": "Always", "volumeMounts": [{"name": "logs", "mountPath": "/logs"}]}
                ],
                "containers": [
                    {"name": "exporter"},
                    {"name": "postgres", "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql"}]}
                ]
            }
        })
    }

    #[test]
    fn the_named_container_wins() {
        assert_eq!(choose_container(&pod(), Some("exporter"), &["data"]).as_deref(), Ok("exporter"));
    }

    #[test]
    fn by_default_the_container_that_mounts_the_volume() {
        assert_eq!(choose_container(&pod(), None, &["data"]).as_deref(), Ok("postgres"));
    }

    #[test]
    fn native_sidecars_are_targets_plain_init_containers_are_not() {
        assert_eq!(choose_container(&pod(), None, &["logs"]).as_deref(), Ok("log-shipper"));
        assert_eq!(choose_container(&pod(), Some("log-shipper"), &[]).as_deref(), Ok("log-shipper"));
        let err = choose_container(&pod(), Some("init-perms"), &[]).unwrap_err();
        assert!(err.contains("exporter, postgres, log-shipper"), "{err}");
    }

    #[test]
    fn else_the_first_application_container() {
        assert_eq!(choose_container(&pod(), None, &[]).as_deref(), Ok("exporter"));
        assert_eq!(choose_container(&pod(), None, &["nothing-mounts-this"]).as_deref(), Ok("exporter"));
    }

    #[test]
    fn a_missing_name_lists_the_containers() {
        let err = choose_container(&pod(), Some("pgbouncer"), &[]).unwrap_err();
        assert!(err.contains("db/pg-0") && err.contains("\"pgbouncer\"") && err.contains("postgres"), "{err}");
    }
}
