//! The backup-before-deploy examples (`examples/argocd`, `examples/tekton`)
//! applied to test clusters and run for real: their pods' containers run the
//! `arca` binary (the cluster puts its directory first on their PATH) against
//! the cluster and a real repository, and a failing backup fails them.
//!
//! Argo CD: the hooks are created in their sync-wave order, as Argo CD does,
//! and the test cluster's Job controller runs the Job. Tekton: no Tekton
//! controller exists here, so the test installs minimal `tasks.tekton.dev` and
//! `pipelines.tekton.dev` CRDs, applies the examples, and plays the step
//! runner: the Task's step becomes a Pod (params substituted, script run by
//! `/bin/sh`, results directory mounted).
//!
//! In a real cluster the pods reach the API server through their
//! ServiceAccount; here each container gets `KUBECONFIG` (the test cluster's
//! kubeconfig) added by the test.

mod kube_env;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use arca_kube::api::Kube;
use arca_testcluster::TestCluster;
use serde_json::{Value, json};

use kube_env::Env;

/// The namespace the examples back up (`my-app` in them).
const APP_NS: &str = "my-app";
/// The namespace of the Tekton Pipeline example.
const CI_NS: &str = "ci";
/// How long a backup pod may take here.
const POD_TIMEOUT: Duration = Duration::from_secs(60);

fn example(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(rel)
}

/// The YAML documents of an example file, as JSON.
fn documents(rel: &str) -> anyhow::Result<Vec<Value>> {
    let path = example(rel);
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut docs = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let value: Value = serde::Deserialize::deserialize(doc).with_context(|| format!("parsing {rel}"))?;
        if !value.is_null() {
            docs.push(value);
        }
    }
    Ok(docs)
}

/// The collection URL an object is created in.
fn collection(obj: &Value) -> anyhow::Result<String> {
    let api_version = obj["apiVersion"].as_str().ok_or_else(|| anyhow!("no apiVersion in {obj}"))?;
    let kind = obj["kind"].as_str().ok_or_else(|| anyhow!("no kind in {obj}"))?;
    let (plural, namespaced) = match kind {
        "Namespace" => ("namespaces", false),
        "ClusterRole" => ("clusterroles", false),
        "ClusterRoleBinding" => ("clusterrolebindings", false),
        "CustomResourceDefinition" => ("customresourcedefinitions", false),
        "ServiceAccount" => ("serviceaccounts", true),
        "Secret" => ("secrets", true),
        "ConfigMap" => ("configmaps", true),
        "Pod" => ("pods", true),
        "Job" => ("jobs", true),
        "Task" => ("tasks", true),
        "Pipeline" => ("pipelines", true),
        other => bail!("the test does not know where {other} objects go"),
    };
    let base = if api_version == "v1" { "/api/v1".to_string() } else { format!("/apis/{api_version}") };
    Ok(match (namespaced, obj.pointer("/metadata/namespace").and_then(Value::as_str)) {
        (true, Some(ns)) => format!("{base}/namespaces/{ns}/{plural}"),
        (true, None) => bail!("{kind} {} has no namespace", obj["metadata"]["name"]),
        (false, _) => format!("{base}/{plural}"),
    })
}

async fn create(kube: &Kube, obj: &Value) -> anyhow::Result<Value> {
    let what = format!("creating {} {}", obj["kind"], obj["metadata"]["name"]);
    Ok(kube.create(&collection(obj)?, obj, &what).await?)
}

/// A test cluster whose containers find the `arca` binary on their PATH,
/// and a repository (password `pw`); dropped in field order, the directory last.
struct Fixture {
    cluster: TestCluster,
    kube: Kube,
    env: Env,
    dir: tempfile::TempDir,
}

/// Everything lives under the target's temp dir, not `/tmp`: the examples
/// mount an `emptyDir` at `/tmp`, and the test cluster rewrites every path
/// under a mount path in a container's env (the repository, the kubeconfig).
async fn setup() -> anyhow::Result<Fixture> {
    let dir = tempfile::Builder::new().prefix("pipelines-").tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let arca = Path::new(env!("CARGO_BIN_EXE_arca"));
    let bin = arca.parent().ok_or_else(|| anyhow!("the arca binary has no directory"))?;
    let cluster = TestCluster::builder()
        .data_dir(dir.path().join("cluster"))
        .kubeconfig(dir.path().join("kubeconfig"))
        .container_path(bin)
        .start()
        .await?;
    let kube = Kube::new(cluster.client().await?, 16);
    let env = Env::new(dir.path())?;
    Ok(Fixture { cluster, kube, env, dir })
}

/// The application namespace with something to back up.
async fn install_app(kube: &Kube) -> anyhow::Result<()> {
    create(kube, &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": APP_NS}})).await?;
    let config = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "web-config", "namespace": APP_NS}, "data": {"LOG_LEVEL": "info"}});
    create(kube, &config).await?;
    Ok(())
}

/// The examples' repository Secret.
async fn repository_secret(kube: &Kube, ns: &str, repository: &Path, password: &str) -> anyhow::Result<()> {
    let secret = json!({"apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "arca-repository", "namespace": ns},
        "stringData": {"repository": repository.display().to_string(), "password": password}});
    create(kube, &secret).await?;
    Ok(())
}

/// What a real cluster's pods get from their ServiceAccount: a way to the API.
fn add_kubeconfig(pod_spec: &mut Value, cluster: &TestCluster) -> anyhow::Result<()> {
    let containers = pod_spec["containers"].as_array_mut().ok_or_else(|| anyhow!("pod spec without containers"))?;
    for c in containers {
        let env =
            c.as_object_mut().ok_or_else(|| anyhow!("container is not an object"))?.entry("env").or_insert(json!([]));
        let env = env.as_array_mut().ok_or_else(|| anyhow!("container env is not a list"))?;
        env.push(json!({"name": "KUBECONFIG", "value": cluster.kubeconfig_path().display().to_string()}));
    }
    Ok(())
}

fn annotation<'a>(obj: &'a Value, key: &str) -> Option<&'a str> {
    obj.pointer("/metadata/annotations").and_then(|a| a.get(key)).and_then(Value::as_str)
}

/// The pods of `ns` owned by `owner` (a Job), or the pod named `owner`.
async fn pods_of(kube: &Kube, ns: &str, owner: &str) -> anyhow::Result<Vec<Value>> {
    let list = kube.get(&format!("/api/v1/namespaces/{ns}/pods"), "listing pods").await?;
    let items = list["items"].as_array().cloned().unwrap_or_default();
    Ok(items
        .into_iter()
        .filter(|p| {
            p["metadata"]["name"] == owner
                || p["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|refs| refs.iter().any(|r| r["name"] == owner))
        })
        .collect())
}

/// The exit code of a pod's first container and its log (for messages).
async fn outcome(kube: &Kube, pod: &Value) -> anyhow::Result<(Option<i64>, String)> {
    let (ns, name) = (pod["metadata"]["namespace"].as_str().unwrap_or_default(), pod["metadata"]["name"].as_str());
    let name = name.ok_or_else(|| anyhow!("pod without a name"))?;
    let code = pod.pointer("/status/containerStatuses/0/state/terminated/exitCode").and_then(Value::as_i64);
    let log = kube.get_text(&format!("/api/v1/namespaces/{ns}/pods/{name}/log"), "pod log").await.unwrap_or_default();
    Ok((code, log))
}

/// Waits for the Job to end; its condition type (`Complete` or `Failed`).
async fn wait_job(kube: &Kube, ns: &str, name: &str) -> anyhow::Result<String> {
    let path = format!("/apis/batch/v1/namespaces/{ns}/jobs/{name}");
    let deadline = tokio::time::Instant::now() + POD_TIMEOUT;
    loop {
        let job = kube.get(&path, "reading the job").await?;
        let conditions = job.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some(c) =
            conditions.iter().find(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True")
        {
            return Ok(c["type"].as_str().unwrap_or_default().to_string());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("job {ns}/{name} did not end within {POD_TIMEOUT:?}: {}", job["status"]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the pod to end; its phase (`Succeeded` or `Failed`) and the pod.
async fn wait_pod(kube: &Kube, ns: &str, name: &str) -> anyhow::Result<(String, Value)> {
    let path = format!("/api/v1/namespaces/{ns}/pods/{name}");
    let deadline = tokio::time::Instant::now() + POD_TIMEOUT;
    loop {
        let pod = kube.get(&path, "reading the pod").await?;
        let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default().to_string();
        if phase == "Succeeded" || phase == "Failed" {
            return Ok((phase, pod));
        }
        if tokio::time::Instant::now() > deadline {
            bail!("pod {ns}/{name} did not end within {POD_TIMEOUT:?}: {}", pod["status"]);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The names of the repository's backups.
async fn backups(env: &Env, cluster: &TestCluster) -> anyhow::Result<Vec<String>> {
    let list = env.json(cluster, 0, &["backup", "list"]).await?;
    let entries = list.as_array().ok_or_else(|| anyhow!("backup list is not a list: {list}"))?;
    Ok(entries.iter().filter_map(|b| b["name"].as_str()).map(String::from).collect())
}

// ---- Argo CD ----

/// Applies the PreSync hooks as Argo CD does (by sync wave, then in file
/// order), with the Job's containers given `KUBECONFIG`; returns the Job's name.
async fn run_presync_hooks(kube: &Kube, cluster: &TestCluster) -> anyhow::Result<String> {
    let mut hooks = documents("argocd/presync-backup.yaml")?;
    for hook in &hooks {
        assert_eq!(
            annotation(hook, "argocd.argoproj.io/hook"),
            Some("PreSync"),
            "every object is a PreSync hook: {hook}"
        );
        assert_eq!(annotation(hook, "argocd.argoproj.io/hook-delete-policy"), Some("BeforeHookCreation"));
    }
    let wave =
        |o: &Value| annotation(o, "argocd.argoproj.io/sync-wave").and_then(|w| w.parse::<i32>().ok()).unwrap_or(0);
    hooks.sort_by_key(wave); // stable: file order within a wave
    let mut job_name = None;
    for mut hook in hooks {
        if hook["kind"] == "Job" {
            assert_eq!(hook["spec"]["backoffLimit"], 0, "one failed backup must fail the sync");
            add_kubeconfig(&mut hook["spec"]["template"]["spec"], cluster)?;
            job_name = hook["metadata"]["name"].as_str().map(String::from);
        }
        create(kube, &hook).await?;
    }
    job_name.ok_or_else(|| anyhow!("the example has no Job"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argocd_presync_hook_backs_up_the_namespace() -> anyhow::Result<()> {
    let fx = setup().await?;
    let (cluster, kube, env) = (&fx.cluster, &fx.kube, &fx.env);
    install_app(kube).await?;
    repository_secret(kube, APP_NS, env.repo(), "pw").await?;

    let job = run_presync_hooks(kube, cluster).await?;
    let ended = wait_job(kube, APP_NS, &job).await?;
    let pods = pods_of(kube, APP_NS, &job).await?;
    let pod = pods.first().ok_or_else(|| anyhow!("the job made no pod"))?;
    let (code, log) = outcome(kube, pod).await?;
    assert_eq!((ended.as_str(), code), ("Complete", Some(0)), "the hook's backup failed:\n{log}");

    let names = backups(env, cluster).await?;
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("pre-deploy-"), "{names:?}");
    assert!(log.contains(&format!("backing up namespace {APP_NS} as {}", names[0])), "{log}");
    let details = env.expect(cluster, 0, &["backup", "describe", &names[0], "--details"]).await?;
    assert!(details.contains("namespaces/my-app/core/configmaps/web-config.json"), "{details}");
    assert!(!details.contains("namespaces/default/"), "only the app's namespace: {details}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argocd_presync_hook_fails_the_sync_when_the_backup_fails() -> anyhow::Result<()> {
    let fx = setup().await?;
    let (cluster, kube, env) = (&fx.cluster, &fx.kube, &fx.env);
    install_app(kube).await?;
    repository_secret(kube, APP_NS, env.repo(), "not the password").await?;

    let job = run_presync_hooks(kube, cluster).await?;
    let ended = wait_job(kube, APP_NS, &job).await?;
    let pods = pods_of(kube, APP_NS, &job).await?;
    assert_eq!(pods.len(), 1, "backoffLimit 0: no second try");
    let (code, log) = outcome(kube, &pods[0]).await?;
    assert_eq!(ended, "Failed", "{log}");
    assert_eq!(code, Some(12), "arca's wrong-password exit code:\n{log}");
    assert!(log.contains("password"), "{log}");
    assert!(backups(env, cluster).await?.is_empty());
    Ok(())
}

// ---- Tekton ----

/// A minimal CRD of a Tekton kind: stored as given, like the real (whose
/// schemas and webhooks are not needed to store a Task or a Pipeline).
fn tekton_crd(kind: &str, plural: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.tekton.dev")},
        "spec": {
            "group": "tekton.dev",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]
        }
    })
}

/// Creates `obj`, waiting up to 10 s for its CRD to be served.
async fn create_custom(kube: &Kube, obj: &Value) -> anyhow::Result<Value> {
    let mut tries = 0;
    loop {
        match create(kube, obj).await {
            Ok(v) => return Ok(v),
            Err(e) if tries < 100 => {
                tries += 1;
                tracing::debug!("{e:#}: retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e.context("the Tekton CRD is not served after 10 s")),
        }
    }
}

/// Replaces Tekton's `$(params.NAME)` and `$(results.NAME.path)` in every string.
fn substitute(value: &mut Value, vars: &BTreeMap<String, String>) {
    match value {
        Value::String(s) => {
            for (k, v) in vars {
                *s = s.replace(&format!("$({k})"), v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| substitute(v, vars)),
        Value::Object(map) => map.values_mut().for_each(|v| substitute(v, vars)),
        _ => {}
    }
}

/// Where Tekton mounts a TaskRun's results.
const RESULTS_DIR: &str = "/tekton/results";

/// The Pod Tekton's controller would make of a TaskRun of `task` with
/// `params`: the one step as its container, params substituted, the
/// script run by its `#!/bin/sh`.
fn taskrun_pod(task: &Value, run: &str, sa: &str, params: &[(&str, &str)]) -> anyhow::Result<Value> {
    let mut vars = BTreeMap::new();
    for p in task.pointer("/spec/params").and_then(Value::as_array).cloned().unwrap_or_default() {
        let name = p["name"].as_str().ok_or_else(|| anyhow!("a param without a name: {p}"))?;
        let given = params.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string());
        let value = given.or_else(|| p["default"].as_str().map(String::from));
        let value = value.ok_or_else(|| anyhow!("param {name} has no default and was not given"))?;
        vars.insert(format!("params.{name}"), value);
    }
    for r in task.pointer("/spec/results").and_then(Value::as_array).cloned().unwrap_or_default() {
        let name = r["name"].as_str().ok_or_else(|| anyhow!("a result without a name: {r}"))?;
        vars.insert(format!("results.{name}.path"), format!("{RESULTS_DIR}/{name}"));
    }
    let steps = task.pointer("/spec/steps").and_then(Value::as_array).cloned().unwrap_or_default();
    let [step] = steps.as_slice() else {
        bail!("the emulated step runner runs one step; the Task has {}", steps.len());
    };
    let mut step = step.clone();
    substitute(&mut step, &vars);
    let script = step["script"].as_str().ok_or_else(|| anyhow!("the step has no script"))?.to_string();
    if !script.starts_with("#!/bin/sh\n") {
        bail!("the emulated step runner runs /bin/sh scripts; the step's starts {:?}", script.lines().next());
    }
    let container = json!({
        "name": format!("step-{}", step["name"].as_str().unwrap_or("step")),
        "image": step["image"],
        "command": ["/bin/sh", "-c", script],
        "env": step.get("env").cloned().unwrap_or(json!([])),
        "securityContext": step.get("securityContext").cloned().unwrap_or(json!({})),
        "volumeMounts": [{"name": "tekton-results", "mountPath": RESULTS_DIR}],
    });
    Ok(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": format!("{run}-pod"), "namespace": task["metadata"]["namespace"],
            "labels": {"tekton.dev/taskRun": run, "tekton.dev/task": task["metadata"]["name"]}},
        "spec": {
            "serviceAccountName": sa,
            "restartPolicy": "Never",
            "containers": [container],
            "volumes": [{"name": "tekton-results", "emptyDir": {}}],
        }
    }))
}

/// Installs the Tekton CRDs, applies both Tekton examples in `ci`, and runs
/// the Task's step for `my-app`; the pod's phase, exit code, log and the
/// `backup-name` result.
async fn run_tekton_task(kube: &Kube, cluster: &TestCluster) -> anyhow::Result<(String, Option<i64>, String, String)> {
    create(kube, &tekton_crd("Task", "tasks")).await?;
    create(kube, &tekton_crd("Pipeline", "pipelines")).await?;
    let mut task = documents("tekton/arca-backup-task.yaml")?.into_iter().next().ok_or_else(|| anyhow!("no Task"))?;
    assert_eq!((task["apiVersion"].as_str(), task["kind"].as_str()), (Some("tekton.dev/v1"), Some("Task")));
    task["metadata"]["namespace"] = json!(CI_NS);
    create_custom(kube, &task).await?;
    let mut service_account = None;
    for obj in documents("tekton/pipeline.yaml")? {
        if obj["kind"] == "ServiceAccount" {
            service_account = obj["metadata"]["name"].as_str().map(String::from);
        }
        create_custom(kube, &obj).await?;
    }
    let pipeline =
        kube.get(&format!("/apis/tekton.dev/v1/namespaces/{CI_NS}/pipelines/deploy-with-backup"), "pipeline").await?;
    let tasks = pipeline["spec"]["tasks"].as_array().cloned().unwrap_or_default();
    let deploy = tasks.iter().find(|t| t["name"] == "deploy").ok_or_else(|| anyhow!("no deploy task"))?;
    assert_eq!(deploy["runAfter"], json!(["backup"]), "deploy runs after the backup");

    // The controller's part: the stored Task, as it reads it, into a Pod.
    let stored = kube.get(&format!("/apis/tekton.dev/v1/namespaces/{CI_NS}/tasks/arca-backup"), "task").await?;
    let sa = service_account.ok_or_else(|| anyhow!("pipeline.yaml has no ServiceAccount"))?;
    let mut pod = taskrun_pod(&stored, "deploy-my-app-backup", &sa, &[("namespace", APP_NS)])?;
    add_kubeconfig(&mut pod["spec"], cluster)?;
    let created = create(kube, &pod).await?;
    let name = created["metadata"]["name"].as_str().ok_or_else(|| anyhow!("created pod has no name"))?;
    let (phase, ended) = wait_pod(kube, CI_NS, name).await?;
    let (code, log) = outcome(kube, &ended).await?;
    let uid = ended["metadata"]["uid"].as_str().unwrap_or_default();
    let result_file = cluster.data_dir().join("pods").join(uid).join("volumes/tekton-results/backup-name");
    let result = std::fs::read_to_string(&result_file).unwrap_or_default();
    Ok((phase, code, log, result))
}

async fn tekton_namespaces(kube: &Kube) -> anyhow::Result<()> {
    install_app(kube).await?;
    create(kube, &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CI_NS}})).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tekton_task_step_backs_up_the_namespace() -> anyhow::Result<()> {
    let fx = setup().await?;
    let (cluster, kube, env) = (&fx.cluster, &fx.kube, &fx.env);
    tekton_namespaces(kube).await?;
    repository_secret(kube, CI_NS, env.repo(), "pw").await?;

    let (phase, code, log, result) = run_tekton_task(kube, cluster).await?;
    assert_eq!((phase.as_str(), code), ("Succeeded", Some(0)), "the step's backup failed:\n{log}");
    let names = backups(env, cluster).await?;
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(names[0].starts_with("pre-deploy-"), "{names:?}");
    assert_eq!(result, names[0], "the backup-name result");
    let details = env.expect(cluster, 0, &["backup", "describe", &names[0], "--details"]).await?;
    assert!(details.contains("namespaces/my-app/core/configmaps/web-config.json"), "{details}");
    assert!(!details.contains("namespaces/ci/"), "only the app's namespace: {details}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tekton_task_step_fails_when_the_backup_fails() -> anyhow::Result<()> {
    let fx = setup().await?;
    let (cluster, kube, env) = (&fx.cluster, &fx.kube, &fx.env);
    tekton_namespaces(kube).await?;
    // A repository that was never initialized: an empty directory.
    let empty = fx.dir.path().join("empty-repo");
    std::fs::create_dir(&empty)?;
    repository_secret(kube, CI_NS, &empty, "pw").await?;

    let (phase, code, log, _) = run_tekton_task(kube, cluster).await?;
    assert_eq!(phase, "Failed", "{log}");
    assert_eq!(code, Some(10), "arca's no-repository exit code:\n{log}");
    assert!(log.contains("not initialized"), "{log}");
    assert!(backups(env, cluster).await?.is_empty());
    Ok(())
}

#[test]
fn tekton_substitution_replaces_params_and_result_paths() {
    let task = json!({
        "metadata": {"name": "t", "namespace": "ci"},
        "spec": {
            "params": [{"name": "namespace"}, {"name": "prefix", "default": "pre"}],
            "results": [{"name": "out"}],
            "steps": [{"name": "s", "image": "img:$(params.prefix)",
                "script": "#!/bin/sh\necho $(params.prefix) $(params.namespace) > $(results.out.path) $(date)"}]
        }
    });
    let pod = taskrun_pod(&task, "run", "sa", &[("namespace", "my-app")]).expect("pod");
    let container = &pod["spec"]["containers"][0];
    assert_eq!(container["image"], "img:pre");
    assert_eq!(container["command"][2], "#!/bin/sh\necho pre my-app > /tekton/results/out $(date)");
    let missing = taskrun_pod(&task, "run", "sa", &[]).expect_err("namespace has no default");
    assert!(missing.to_string().contains("param namespace has no default"), "{missing}");
}
