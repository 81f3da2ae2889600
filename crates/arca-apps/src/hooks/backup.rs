//! Backup hooks at work: a pod's pre hooks (the freeze), then — outside
//! this module — the snapshots of its volumes, then its post hooks (the
//! thaw). Post hooks run once a pre hook succeeded, whatever happened to
//! the snapshots: called by the volume phase, by the [`watchdog`] when the
//! freeze outlives its bound, or by [`BackupHooks::thaw_all`] when the
//! backup is interrupted; whoever comes first thaws, exactly once.
//!
//! [`watchdog`]: super::watchdog

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use arca_kube::api::Kube;
use arca_kube::backup::ItemError;
use arca_kube::exec::{self, Target};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::annotations;
use super::container::choose_container;
use super::file::HooksFile;
use super::record::{HookPhase, HookRecord, HookRun, HookState};
use super::spec::{HookSpec, PodHooks};
use super::watchdog;

/// What `arca backup create` says about hooks.
#[derive(Debug, Clone, Default)]
pub struct HookOptions {
    pub file: Option<HooksFile>,
    /// The longest a pod stays frozen; default: its pre hooks' timeouts plus the volume timeout.
    pub freeze_timeout: Option<Duration>,
    /// Time one volume may take (part of the default freeze bound).
    pub volume_timeout: Duration,
}

/// Who ran a pod's post hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThawBy {
    /// After its snapshots, as planned.
    Backup,
    /// The freeze outlived its bound.
    Watchdog,
    /// The backup was interrupted.
    Interrupt,
}

impl ThawBy {
    fn as_str(self) -> &'static str {
        match self {
            ThawBy::Backup => "backup",
            ThawBy::Watchdog => "watchdog",
            ThawBy::Interrupt => "interrupt",
        }
    }
}

/// A pod between its pre and its post hooks.
struct Frozen {
    kube: Kube,
    pod: Value,
    volumes: Vec<String>,
    hooks: PodHooks,
    /// Whether its post hooks are due (a pre hook succeeded, or none failed with `Fail`).
    thaw_due: bool,
    frozen_at: Instant,
}

#[derive(Default)]
struct State {
    frozen: HashMap<String, Frozen>,
    /// The watchdog of each frozen pod.
    watchdogs: HashMap<String, tokio::task::JoinHandle<()>>,
    records: Vec<HookRecord>,
    errors: Vec<ItemError>,
    warnings: Vec<String>,
    log: Vec<String>,
}

struct Inner {
    opts: HookOptions,
    state: Mutex<State>,
}

/// The hooks of one backup; clones share their state.
#[derive(Clone)]
pub struct BackupHooks(Arc<Inner>);

/// What the hooks did, for the backup's report.
#[derive(Debug, Default)]
pub struct HooksOutcome {
    pub records: Vec<HookRecord>,
    pub errors: Vec<ItemError>,
    pub warnings: Vec<String>,
    pub log: Vec<String>,
}

/// `NAMESPACE/NAME` of a pod.
pub fn pod_key(pod: &Value) -> String {
    let get = |p: &str| pod.pointer(p).and_then(Value::as_str).unwrap_or_default();
    format!("{}/{}", get("/metadata/namespace"), get("/metadata/name"))
}

impl BackupHooks {
    pub fn new(opts: HookOptions) -> BackupHooks {
        BackupHooks(Arc::new(Inner { opts, state: Mutex::new(State::default()) }))
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not stop the thaw: the state stays usable.
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The pod's hooks: per phase, its annotations' (Arca's, else Velero's)
    /// win over a hooks file's, as in Velero.
    pub fn hooks_for(&self, pod: &Value) -> Result<PodHooks, String> {
        let annotations: BTreeMap<String, String> = pod
            .pointer("/metadata/annotations")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
            .collect();
        let mut hooks =
            annotations::from_annotations(&annotations).map_err(|e| format!("pod {}: {e}", pod_key(pod)))?;
        if let Some(file) = &self.0.opts.file {
            let from_file = file.for_pod(pod);
            if hooks.pre.is_empty() {
                hooks.pre = from_file.pre;
            }
            if hooks.post.is_empty() {
                hooks.post = from_file.post;
            }
        }
        Ok(hooks)
    }

    /// Whether the pod has backup hooks (or malformed hook annotations, which fail it).
    pub fn has_hooks(&self, pod: &Value) -> bool {
        self.hooks_for(pod).map(|h| !h.is_empty()).unwrap_or(true)
    }

    /// Runs the pod's pre hooks, in order. `Err(reason)`: a `Fail` hook
    /// failed and the pod's volumes must not be snapshotted. Either way
    /// the pod must be [`thaw`](Self::thaw)ed afterwards.
    pub async fn freeze(&self, kube: &Kube, pod: &Value, volumes: &[String]) -> Result<(), String> {
        let key = pod_key(pod);
        let hooks = match self.hooks_for(pod) {
            Ok(h) => h,
            Err(e) => {
                self.state().errors.push(ItemError { object: format!("pod {key}"), reason: e.clone() });
                return Err(e);
            }
        };
        // Registered before the first pre hook runs: an interrupt in the middle still thaws.
        let frozen = Frozen {
            kube: kube.clone(),
            pod: pod.clone(),
            volumes: volumes.to_vec(),
            hooks: hooks.clone(),
            thaw_due: true,
            frozen_at: Instant::now(),
        };
        self.state().frozen.insert(key.clone(), frozen);
        let mut failure = None;
        let (mut succeeded, mut failed_fail, mut timed_out) = (0, false, false);
        for spec in &hooks.pre {
            if let Some(why) = &failure {
                let run = self.planned(pod, spec, HookPhase::Pre, volumes);
                self.keep(HookRecord::skipped(&run, format!("an earlier pre hook failed: {why}")));
                continue;
            }
            let record = self.run_one(kube, pod, spec, HookPhase::Pre, volumes).await;
            timed_out |= record.state == HookState::TimedOut;
            match record.state {
                HookState::Succeeded => succeeded += 1,
                _ if record.fails_item() => {
                    failed_fail = true;
                    failure = Some(record.failure_line());
                }
                _ => {}
            }
            self.keep(record);
        }
        // A pre hook stopped at its timeout may have frozen the application: thaw it too.
        let thaw_due = hooks.pre.is_empty() || succeeded > 0 || timed_out || !failed_fail;
        if let Some(f) = self.state().frozen.get_mut(&key) {
            (f.thaw_due, f.frozen_at) = (thaw_due, Instant::now());
        }
        if thaw_due && !hooks.post.is_empty() {
            let bound = self.0.opts.freeze_timeout.unwrap_or(hooks.pre_timeout() + self.0.opts.volume_timeout);
            let dog = watchdog::start(self.clone(), key.clone(), bound);
            self.state().watchdogs.insert(key, dog);
        }
        match failure {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// Runs the pod's post hooks if it is still frozen (once: later calls do nothing).
    pub async fn thaw(&self, pod: &str, by: ThawBy) {
        let (frozen, dog) = {
            let mut s = self.state();
            let dog = if by == ThawBy::Watchdog { None } else { s.watchdogs.remove(pod) };
            (s.frozen.remove(pod), dog)
        };
        let Some(frozen) = frozen else {
            // The watchdog is thawing it: its records must be in before the backup goes on.
            if let Some(dog) = dog {
                let _ = dog.await;
            }
            return;
        };
        if let Some(dog) = dog {
            dog.abort();
        }
        let window = frozen.frozen_at.elapsed();
        if by != ThawBy::Backup {
            let msg = match by {
                ThawBy::Watchdog => format!(
                    "pod {pod} stayed frozen longer than its bound ({:.1}s): the watchdog ran its post hooks \
                     before its snapshots ended; set --freeze-timeout or --volume-timeout higher",
                    window.as_secs_f64()
                ),
                _ => format!("pod {pod}: the backup was interrupted; its post hooks ran to thaw it"),
            };
            let mut s = self.state();
            s.errors.push(ItemError { object: format!("pod {pod}"), reason: msg.clone() });
            s.log.push(msg);
        }
        for spec in &frozen.hooks.post {
            let run = self.planned(&frozen.pod, spec, HookPhase::Post, &frozen.volumes);
            if !frozen.thaw_due {
                self.keep(HookRecord::skipped(&run, "no pre hook succeeded, so there is nothing to thaw"));
                continue;
            }
            let freeze_secs = frozen.frozen_at.elapsed().as_secs_f64();
            let mut record = self.run_one(&frozen.kube, &frozen.pod, spec, HookPhase::Post, &frozen.volumes).await;
            record.freeze_secs = Some(freeze_secs);
            record.thawed_by = Some(by.as_str().to_string());
            self.keep(record);
        }
        self.state().log.push(format!(
            "pod {pod}: frozen {:.2}s (pre hooks ended → post hooks started), thawed by {}",
            window.as_secs_f64(),
            by.as_str()
        ));
    }

    /// Thaws every pod still frozen (the backup was interrupted).
    pub async fn thaw_all(&self, by: ThawBy) {
        let pods: Vec<String> = self.state().frozen.keys().cloned().collect();
        futures::future::join_all(pods.iter().map(|p| self.thaw(p, by))).await;
    }

    /// Everything recorded so far, taken out.
    pub fn take_outcome(&self) -> HooksOutcome {
        let mut s = self.state();
        HooksOutcome {
            records: std::mem::take(&mut s.records),
            errors: std::mem::take(&mut s.errors),
            warnings: std::mem::take(&mut s.warnings),
            log: std::mem::take(&mut s.log),
        }
    }

    fn planned(&self, pod: &Value, spec: &HookSpec, phase: HookPhase, volumes: &[String]) -> HookRun {
        let vols: Vec<&str> = volumes.iter().map(String::as_str).collect();
        HookRun {
            pod: pod_key(pod),
            container: choose_container(pod, spec.container.as_deref(), &vols).unwrap_or_default(),
            phase,
            name: spec.name.clone(),
            source: spec.source.clone(),
            command: spec.command.clone(),
            on_error: spec.on_error,
        }
    }

    async fn run_one(
        &self,
        kube: &Kube,
        pod: &Value,
        spec: &HookSpec,
        phase: HookPhase,
        volumes: &[String],
    ) -> HookRecord {
        let mut run = self.planned(pod, spec, phase, volumes);
        let vols: Vec<&str> = volumes.iter().map(String::as_str).collect();
        let started: DateTime<Utc> = Utc::now();
        let record = match choose_container(pod, spec.container.as_deref(), &vols) {
            Ok(container) => {
                run.container = container.clone();
                let ns = pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or_default();
                let name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default();
                let target = Target { namespace: ns.into(), pod: name.into(), container };
                let result = exec::run(kube, &target, &spec.command, None, spec.timeout).await;
                HookRecord::of(&run, started, &result)
            }
            Err(e) => {
                // The named container does not exist: the hook fails with the pod's list.
                run.container = spec.container.clone().unwrap_or_default();
                let not_started =
                    exec::ExecError::Start { target: run.pod.clone(), argv: spec.command.clone(), message: e.clone() };
                let mut r = HookRecord::of(&run, started, &Err(not_started));
                r.reason = Some(e);
                r
            }
        };
        self.judge(&record);
        record
    }

    /// A failed hook is an error (`Fail`) or a warning (`Continue`).
    fn judge(&self, record: &HookRecord) {
        let mut s = self.state();
        if record.fails_item() {
            s.errors.push(ItemError { object: format!("pod {}", record.pod), reason: record.failure_line() });
        } else if record.warns() {
            s.warnings.push(format!("{} (on-error Continue)", record.failure_line()));
        }
        s.log.push(format!(
            "{:?} hook {:?} in {} container {:?}: {:?} in {:.2}s",
            record.phase, record.command, record.pod, record.container, record.state, record.duration_secs
        ));
    }

    fn keep(&self, record: HookRecord) {
        self.state().records.push(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hooks_with_file() -> BackupHooks {
        let text = "hooks:\n  - name: f\n    pre: [{exec: {command: [file-pre]}}]\n    post: [{exec: {command: [file-post]}}]\n";
        let file = HooksFile::parse(text, "h.yaml").ok();
        BackupHooks::new(HookOptions { file, ..Default::default() })
    }

    #[test]
    fn annotations_win_over_the_file_per_phase() {
        let pod = json!({"metadata": {"namespace": "db", "name": "p", "annotations": {
            "pre.hook.backup.arca.io/command": "[\"annotated-pre\"]"}}});
        let h = hooks_with_file().hooks_for(&pod).unwrap();
        assert_eq!(h.pre[0].command, ["annotated-pre"]);
        assert_eq!(h.post[0].command, ["file-post"]);
    }

    #[test]
    fn malformed_annotations_count_as_hooks_that_fail() {
        let pod = json!({"metadata": {"namespace": "db", "name": "p", "annotations": {
            "pre.hook.backup.arca.io/command": "[\"unterminated"}}});
        let hooks = BackupHooks::new(HookOptions::default());
        assert!(hooks.has_hooks(&pod));
        let err = hooks.hooks_for(&pod).unwrap_err();
        assert!(err.contains("db/p") && err.contains("pre.hook.backup.arca.io/command"), "{err}");
        let plain = json!({"metadata": {"namespace": "db", "name": "q"}});
        assert!(!hooks.has_hooks(&plain));
    }
}
