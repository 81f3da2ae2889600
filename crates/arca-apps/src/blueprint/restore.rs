//! The restore data phase of blueprints: bound objects are followed while
//! the restore applies them; once everything is in, each re-created
//! application is waited for (bounded) until a pod is Ready, then every
//! stream its backup holds is fed into its blueprint's restore command.
//! `--data-only` does the same into the live application found by the
//! backup's object names in the selected namespaces.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arca_kube::api::Kube;
use arca_kube::data::{AfterApply, DataOnly, ObjectPrepared, RestoreDataOutcome, RestoreDataPhase};
use arca_repo::{Id, Repository};
use chrono::Utc;
use futures::future::BoxFuture;
use serde_json::Value;

use super::app::{self, BoundApp};
use super::binding::{self, Bindings};
use super::format::Blueprint;
use super::library::Library;
use super::record::{DumpRecord, DumpRestore, DumpState, RestoreState, seconds};
use super::stream::{self, Command};
use super::template;

pub struct RestoreSettings {
    pub library: Library,
    pub bindings: Bindings,
    pub repo: Repository,
    /// The backup's dump records.
    pub records: Vec<DumpRecord>,
    /// How long to wait for a Ready pod, and how long one stream's restore may take.
    pub timeout: Duration,
}

pub struct BlueprintRestore(pub Arc<RestoreSettings>);

/// A restored application, its dumps, and where they go.
struct Destination<'a> {
    /// `Kind/NAMESPACE/NAME` in the backup.
    key: String,
    kind: String,
    namespace: String,
    name: String,
    object: Value,
    secret: Option<String>,
    records: Vec<&'a DumpRecord>,
}

fn kind_of(obj: &Value) -> &str {
    obj["kind"].as_str().unwrap_or_default()
}

fn is_bindable(kind: &str) -> bool {
    binding::BINDABLE.iter().any(|(k, _)| *k == kind)
}

impl RestoreDataPhase for BlueprintRestore {
    fn prepare_object(&self, desired: &mut Value) -> ObjectPrepared {
        let kind = kind_of(desired).to_string();
        let follow = is_bindable(&kind) && BoundApp::of(&kind, desired.clone(), &self.0.bindings).is_some();
        ObjectPrepared { note: None, follow }
    }

    fn after_apply<'a>(&'a self, ctx: AfterApply<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        Box::pin(async move {
            let mut dests = Vec::new();
            for r in &ctx.restored {
                let kind = kind_of(&r.object).to_string();
                let Some(app) = BoundApp::of(&kind, r.object.clone(), &self.0.bindings) else { continue };
                let source_ns = r.source_namespace.clone().unwrap_or_default();
                let key = format!("{kind}/{source_ns}/{}", app.name);
                dests.push(self.destination(key, app));
            }
            let mut outcome = RestoreDataOutcome::default();
            let covered: Vec<String> = dests.iter().map(|d| d.key.clone()).collect();
            // Dumps of applications this restore did not re-create are named, not dropped.
            for (key, records) in self.by_object() {
                let ns = key.split('/').nth(1).unwrap_or_default();
                if covered.contains(&key) || (ctx.namespaces)(ns).is_none() {
                    continue;
                }
                let why = "the application was not created by this restore (it exists already or was not selected); \
                           restore its data into the live one with --data-only";
                for r in records {
                    self.push(&mut outcome, skipped(r, why));
                }
            }
            if ctx.dry_run {
                return outcome;
            }
            for d in dests {
                for result in self.restore_app(ctx.kube, &d).await {
                    self.push(&mut outcome, result);
                }
            }
            outcome
        })
    }

    fn data_only<'a>(&'a self, ctx: DataOnly<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        Box::pin(async move {
            let mut outcome = RestoreDataOutcome::default();
            let filter = match arca_kube::filter::Filter::new(ctx.plan.filter.clone()) {
                Ok(f) => f,
                Err(e) => {
                    outcome.failed += 1;
                    outcome.warnings.push(format!("blueprint restores: {e}"));
                    return outcome;
                }
            };
            for (key, records) in self.by_object() {
                let mut parts = key.splitn(3, '/');
                let (kind, ns, name) = (
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default(),
                );
                if !filter.namespace_included(ns) {
                    continue;
                }
                let target_ns = ctx.plan.mappings.namespace(ns).to_string();
                if ctx.dry_run {
                    records.iter().for_each(|r| self.push(&mut outcome, skipped(r, "dry run")));
                    continue;
                }
                match live_object(ctx.kube, kind, &target_ns, name).await {
                    Ok(object) => {
                        let secret = binding::binding(kind, &object, &self.0.bindings).and_then(|b| b.secret);
                        let d = Destination {
                            key: key.clone(),
                            kind: kind.to_string(),
                            namespace: target_ns,
                            name: name.to_string(),
                            object,
                            secret,
                            records,
                        };
                        for result in self.restore_app(ctx.kube, &d).await {
                            self.push(&mut outcome, result);
                        }
                    }
                    Err(why) => {
                        for r in records {
                            self.push(&mut outcome, failed_before(r, "", "", &why));
                        }
                    }
                }
            }
            outcome
        })
    }
}

async fn live_object(kube: &Kube, kind: &str, ns: &str, name: &str) -> Result<Value, String> {
    let path = match kind {
        "StatefulSet" => format!("/apis/apps/v1/namespaces/{ns}/statefulsets/{name}"),
        "Deployment" => format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}"),
        "Pod" => format!("/api/v1/namespaces/{ns}/pods/{name}"),
        other => return Err(format!("{other} is not a kind blueprints bind to")),
    };
    match kube.get_opt(&path, "application").await {
        Ok(Some(obj)) => Ok(obj),
        Ok(None) => Err(format!("{kind} {ns}/{name} does not exist in the cluster (restore it without --data-only)")),
        Err(e) => Err(e.to_string()),
    }
}

fn skipped(r: &DumpRecord, why: &str) -> DumpRestore {
    DumpRestore {
        blueprint: r.blueprint.clone(),
        object: r.object.clone(),
        pod: String::new(),
        container: String::new(),
        stream: r.stream.clone(),
        snapshot: r.snapshot.clone().unwrap_or_default(),
        state: RestoreState::Skipped,
        bytes: 0,
        duration_secs: 0.0,
        reason: Some(why.to_string()),
    }
}

fn failed_before(r: &DumpRecord, pod: &str, container: &str, why: &str) -> DumpRestore {
    DumpRestore {
        pod: pod.to_string(),
        container: container.to_string(),
        state: RestoreState::Failed,
        ..skipped(r, why)
    }
}

impl BlueprintRestore {
    fn destination(&self, key: String, app: BoundApp) -> Destination<'_> {
        let records = self.0.records.iter().filter(|r| r.object == key && r.state == DumpState::Completed).collect();
        Destination {
            key,
            kind: app.kind,
            namespace: app.namespace,
            name: app.name,
            object: app.object,
            secret: app.binding.secret,
            records,
        }
    }

    /// The restorable records per object, in backup order.
    fn by_object(&self) -> BTreeMap<String, Vec<&DumpRecord>> {
        let mut out: BTreeMap<String, Vec<&DumpRecord>> = BTreeMap::new();
        for r in self.0.records.iter().filter(|r| r.state == DumpState::Completed) {
            out.entry(r.object.clone()).or_default().push(r);
        }
        out
    }

    fn push(&self, outcome: &mut RestoreDataOutcome, r: DumpRestore) {
        outcome.log.push(match r.state {
            RestoreState::Restored => format!(
                "dump {} of {} restored into {} ({} bytes, {:.1}s)",
                r.stream, r.object, r.pod, r.bytes, r.duration_secs
            ),
            _ => {
                format!("dump {} of {}: {:?}: {}", r.stream, r.object, r.state, r.reason.as_deref().unwrap_or_default())
            }
        });
        match r.state {
            RestoreState::Failed => outcome.failed += 1,
            RestoreState::Skipped => outcome.warnings.push(format!(
                "dump {} of {} not restored: {}",
                r.stream,
                r.object,
                r.reason.as_deref().unwrap_or_default()
            )),
            RestoreState::Restored => {}
        }
        match serde_json::to_value(&r) {
            Ok(v) => outcome.dumps.push(v),
            Err(e) => outcome.warnings.push(format!("dump result of {}: {e}", r.object)),
        }
    }

    async fn restore_app(&self, kube: &Kube, d: &Destination<'_>) -> Vec<DumpRestore> {
        if d.records.is_empty() {
            return Vec::new();
        }
        let blueprint = &d.records[0].blueprint;
        let Some(bp) = self.0.library.get(blueprint) else {
            let why = self.0.library.unknown(blueprint);
            return d.records.iter().map(|r| failed_before(r, "", "", &why)).collect();
        };
        let pod = match app::wait_ready_pod(kube, &d.namespace, &d.kind, &d.name, &d.object, self.0.timeout).await {
            Ok(p) => p,
            Err(why) => return d.records.iter().map(|r| failed_before(r, "", "", &why)).collect(),
        };
        let container = match app::choose_container(&pod, &bp.restore.container) {
            Ok(c) => c,
            Err(why) => return d.records.iter().map(|r| failed_before(r, "", "", &why)).collect(),
        };
        let target = app::target(&pod, container);
        let pod_name = format!("{}/{}", target.namespace, target.pod);
        let env = app::secret_values(kube, &d.namespace, d.secret.as_deref(), &bp.restore.secret_env, &d.key).await;
        let preamble = match env.and_then(|e| if e.is_empty() { Ok(None) } else { stream::env_preamble(&e).map(Some) })
        {
            Ok(p) => p,
            Err(why) => {
                return d.records.iter().map(|r| failed_before(r, &pod_name, &target.container, &why)).collect();
            }
        };
        let mut out = Vec::new();
        for r in &d.records {
            let started = Utc::now();
            let result = self.restore_stream(kube, bp, d, &target, &preamble, r).await;
            let mut done = failed_before(r, &pod_name, &target.container, "");
            done.duration_secs = seconds(started);
            match result {
                Ok(bytes) => {
                    done.state = RestoreState::Restored;
                    done.bytes = bytes;
                    done.reason = None;
                }
                Err(why) => done.reason = Some(why),
            }
            out.push(done);
        }
        out
    }

    async fn restore_stream(
        &self,
        kube: &Kube,
        bp: &Blueprint,
        d: &Destination<'_>,
        target: &arca_kube::exec::Target,
        preamble: &Option<Vec<u8>>,
        r: &DumpRecord,
    ) -> Result<u64, String> {
        let (entry, matched) = bp
            .restore_for(&r.stream)
            .ok_or_else(|| format!("blueprint {} has no restore entry matching stream {:?}", bp.name, r.stream))?;
        let snapshot = r.snapshot.as_deref().ok_or("the dump has no snapshot")?;
        let id = snapshot.parse::<Id>().map_err(|e| format!("dump snapshot {snapshot}: {e}"))?;
        let item = r.item.clone().or(matched).unwrap_or_default();
        let values = BTreeMap::from([
            ("namespace", d.namespace.clone()),
            ("name", d.name.clone()),
            ("pod", target.pod.clone()),
            ("container", target.container.clone()),
            ("stream", r.stream.clone()),
            ("item", item),
        ]);
        let argv = template::expand_all(&entry.command, &values)?;
        let argv = if preamble.is_some() { stream::with_env_from_stdin(&argv) } else { argv };
        let cmd = Command { kube, target, argv, preamble: preamble.clone() };
        match tokio::time::timeout(self.0.timeout, stream::restore_into(&cmd, &self.0.repo, id)).await {
            Ok(r) => r,
            Err(_) => Err(format!("did not end within {}s and was stopped", self.0.timeout.as_secs())),
        }
    }
}
