//! Restore hooks as annotations, on a pod or a workload's pod template:
//! `post.hook.restore.arca.io/{container,command,on-error,exec-timeout,
//! wait-timeout,wait-for-ready}` (run once the restored pod is Ready) and
//! `init.hook.restore.arca.io/{container-image,container-name,command}`
//! (an init container injected before the pod's own). Velero's
//! `*.hook.restore.velero.io/*` are read too; Arca's win when both are set.
//! Unlike Velero, every wait has a bound: `wait-timeout` defaults to
//! [`DEFAULT_WAIT`], `exec-timeout` to [`DEFAULT_EXEC`].

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::hooks::OnError;

pub const DEFAULT_EXEC: Duration = Duration::from_secs(30);
pub const DEFAULT_WAIT: Duration = Duration::from_secs(600);
/// Name of the injected init container when the annotations give none.
pub const DEFAULT_INIT_NAME: &str = "restore-hook";

const PREFIXES: [(&str, &str); 2] =
    [("hook.restore.arca.io", "annotation"), ("hook.restore.velero.io", "velero-annotation")];

/// A post-restore exec hook.
#[derive(Debug, Clone, PartialEq)]
pub struct PostHook {
    pub container: Option<String>,
    pub command: Vec<String>,
    pub on_error: OnError,
    pub exec_timeout: Duration,
    pub wait_timeout: Duration,
    /// Wait for the pod's Ready condition (else only for the container to run).
    pub wait_for_ready: bool,
    /// `annotation` or `velero-annotation`.
    pub source: String,
}

/// An init container to inject.
#[derive(Debug, Clone, PartialEq)]
pub struct InitHook {
    pub image: String,
    pub name: String,
    pub command: Vec<String>,
    pub source: String,
}

/// The annotation `phase.PREFIX/key` from the first prefix that has any
/// annotation of that phase, with that prefix's source name.
fn read<'a>(
    annotations: &'a Map<String, Value>,
    phase: &str,
) -> Option<(impl Fn(&str) -> Option<&'a str>, &'static str)> {
    let (prefix, source) = PREFIXES.iter().find(|(p, _)| {
        let head = format!("{phase}.{p}/");
        annotations.keys().any(|k| k.starts_with(&head))
    })?;
    let head = format!("{phase}.{prefix}/");
    Some((move |key: &str| annotations.get(&format!("{head}{key}")).and_then(Value::as_str), *source))
}

/// A command annotation: a JSON array of strings, or one word.
pub fn parse_command(text: &str, what: &str) -> Result<Vec<String>, String> {
    let t = text.trim();
    if t.starts_with('[') {
        let argv: Vec<String> = serde_json::from_str(t).map_err(|e| {
            format!("{what}: {t:?} is not a JSON array of strings ({e}); write e.g. [\"/bin/sh\", \"-c\", \"…\"]")
        })?;
        if argv.is_empty() || argv[0].is_empty() {
            return Err(format!("{what}: the command is empty; give at least the program"));
        }
        return Ok(argv);
    }
    if t.is_empty() {
        return Err(format!("{what}: the command is empty; give at least the program"));
    }
    Ok(vec![t.to_string()])
}

fn duration(value: Option<&str>, default: Duration, what: &str) -> Result<Duration, String> {
    match value {
        None => Ok(default),
        Some(v) => arca_volumes::limits::parse_duration(v).map_err(|e| format!("{what}: {e}")),
    }
}

/// The post-restore hook of `annotations` (of a pod or pod template), if any.
pub fn post_hook(annotations: &Map<String, Value>) -> Result<Option<PostHook>, String> {
    let Some((get, source)) = read(annotations, "post") else {
        return Ok(None);
    };
    let key = |k: &str| format!("post.{}/{k}", if source == "annotation" { PREFIXES[0].0 } else { PREFIXES[1].0 });
    let Some(command) = get("command") else {
        return Err(format!("{} is missing; a restore hook needs its command", key("command")));
    };
    let command = parse_command(command, &key("command"))?;
    let on_error = match get("on-error") {
        None => OnError::Continue,
        Some(v) => {
            OnError::parse(v).ok_or_else(|| format!("{}: {v:?} is neither Fail nor Continue", key("on-error")))?
        }
    };
    let wait_for_ready = match get("wait-for-ready") {
        None => false,
        Some(v) => {
            v.parse::<bool>().map_err(|_| format!("{}: {v:?} is neither true nor false", key("wait-for-ready")))?
        }
    };
    Ok(Some(PostHook {
        container: get("container").map(str::to_string).filter(|c| !c.is_empty()),
        command,
        on_error,
        exec_timeout: duration(get("exec-timeout"), DEFAULT_EXEC, &key("exec-timeout"))?,
        wait_timeout: duration(get("wait-timeout"), DEFAULT_WAIT, &key("wait-timeout"))?,
        wait_for_ready,
        source: source.to_string(),
    }))
}

/// The init-container hook of `annotations`, if any.
pub fn init_hook(annotations: &Map<String, Value>) -> Result<Option<InitHook>, String> {
    let Some((get, source)) = read(annotations, "init") else {
        return Ok(None);
    };
    let key = |k: &str| format!("init.{}/{k}", if source == "annotation" { PREFIXES[0].0 } else { PREFIXES[1].0 });
    let image = get("container-image").filter(|i| !i.is_empty());
    let Some(image) = image else {
        return Err(format!("{} is missing; an init restore hook needs its image", key("container-image")));
    };
    // Velero names it `command`; `container-command` is accepted as well.
    let Some(command) = get("command").or_else(|| get("container-command")) else {
        return Err(format!("{} is missing; an init restore hook needs its command", key("command")));
    };
    Ok(Some(InitHook {
        image: image.to_string(),
        name: get("container-name").filter(|n| !n.is_empty()).unwrap_or(DEFAULT_INIT_NAME).to_string(),
        command: parse_command(command, &key("command"))?,
        source: source.to_string(),
    }))
}

/// Where the pod spec and its annotations are: the object itself for a
/// Pod, its template for a workload; `None` for other kinds.
pub fn pod_template_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some(""),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => Some("/spec/template"),
        _ => None,
    }
}

/// The annotations of the pod (template) at `pointer` in `obj`.
pub fn template_annotations<'a>(obj: &'a Value, pointer: &str) -> Option<&'a Map<String, Value>> {
    obj.pointer(&format!("{pointer}/metadata/annotations")).and_then(Value::as_object)
}

/// Puts the init container first in the pod spec at `pointer`, mounting
/// every volume the pod's containers mount (so it can prepare their data).
/// A container of that name already there (a restore of a restore) is replaced.
pub fn inject_init(obj: &mut Value, pointer: &str, hook: &InitHook) -> Result<(), String> {
    let spec = obj
        .pointer_mut(&format!("{pointer}/spec"))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| "it has no pod spec to add an init container to".to_string())?;
    let mut mounts: Vec<Value> = Vec::new();
    for c in spec.get("containers").and_then(Value::as_array).into_iter().flatten() {
        for m in c.get("volumeMounts").and_then(Value::as_array).into_iter().flatten() {
            let path = m.get("mountPath");
            if !mounts.iter().any(|seen| seen.get("mountPath") == path) {
                mounts.push(m.clone());
            }
        }
    }
    let mut container = json!({"name": hook.name, "image": hook.image, "command": hook.command});
    if !mounts.is_empty() {
        container["volumeMounts"] = Value::Array(mounts);
    }
    let inits = spec.entry("initContainers").or_insert_with(|| Value::Array(Vec::new()));
    let Some(list) = inits.as_array_mut() else {
        return Err("its initContainers is not a list".to_string());
    };
    list.retain(|c| c.get("name").and_then(Value::as_str) != Some(hook.name.as_str()));
    list.insert(0, container);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn post_hooks_from_arca_or_velero_annotations() {
        let a = map(json!({
            "post.hook.restore.arca.io/command": "[\"/bin/sh\", \"-c\", \"echo hi\"]",
            "post.hook.restore.arca.io/container": "db",
            "post.hook.restore.arca.io/exec-timeout": "5s",
            "post.hook.restore.arca.io/on-error": "Fail",
            "post.hook.restore.velero.io/command": "ignored",
        }));
        let h = post_hook(&a).unwrap().unwrap();
        assert_eq!(h.command, ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(h.container.as_deref(), Some("db"));
        assert_eq!(h.exec_timeout, Duration::from_secs(5));
        assert_eq!(h.wait_timeout, DEFAULT_WAIT, "bounded even when not given");
        assert_eq!(h.on_error, OnError::Fail);
        assert_eq!(h.source, "annotation");
        let v = map(
            json!({"post.hook.restore.velero.io/command": "/reload", "post.hook.restore.velero.io/wait-for-ready": "true"}),
        );
        let h = post_hook(&v).unwrap().unwrap();
        assert_eq!(
            (h.command, h.wait_for_ready, h.source.as_str()),
            (vec!["/reload".to_string()], true, "velero-annotation")
        );
        assert_eq!(h.on_error, OnError::Continue, "Velero's default");
    }

    #[test]
    fn bad_annotations_name_the_key() {
        let e = post_hook(&map(json!({"post.hook.restore.arca.io/container": "db"}))).unwrap_err();
        assert!(e.contains("post.hook.restore.arca.io/command is missing"), "{e}");
        let e = post_hook(&map(json!({"post.hook.restore.arca.io/command": "[\"sh\"", }))).unwrap_err();
        assert!(e.contains("not a JSON array"), "{e}");
        let e = post_hook(&map(
            json!({"post.hook.restore.arca.io/command": "x", "post.hook.restore.arca.io/exec-timeout": "soon"}),
        ))
        .unwrap_err();
        assert!(e.contains("exec-timeout"), "{e}");
        assert_eq!(post_hook(&map(json!({"other": "x"}))), Ok(None));
    }

    #[test]
    fn init_hooks_are_injected_first_with_the_pods_mounts() {
        let a = map(json!({
            "init.hook.restore.arca.io/container-image": "busybox:1.36",
            "init.hook.restore.arca.io/command": "[\"sh\", \"-c\", \"touch /data/restored\"]",
        }));
        let hook = init_hook(&a).unwrap().unwrap();
        assert_eq!(hook.name, DEFAULT_INIT_NAME);
        let mut deploy = json!({"kind": "Deployment", "spec": {"template": {"spec": {
        "initContainers": [{"name": "perms"}],
        "containers": [
            {"name": "app", "volumeMounts": [{"name": "data", "mountPath": "/data"}]},
            {"name": "side", "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}]}
        ]}}}});
        inject_init(&mut deploy, "/spec/template", &hook).unwrap();
        let inits = deploy.pointer("/spec/template/spec/initContainers").unwrap().as_array().unwrap();
        assert_eq!(inits[0]["name"], DEFAULT_INIT_NAME);
        assert_eq!(inits[0]["volumeMounts"].as_array().unwrap().len(), 2);
        assert_eq!(inits[1]["name"], "perms");
        inject_init(&mut deploy, "/spec/template", &hook).unwrap();
        assert_eq!(
            deploy.pointer("/spec/template/spec/initContainers").unwrap().as_array().unwrap().len(),
            2,
            "not twice"
        );
        let e = init_hook(&map(json!({"init.hook.restore.arca.io/command": "x"}))).unwrap_err();
        assert!(e.contains("container-image is missing"), "{e}");
    }
}
