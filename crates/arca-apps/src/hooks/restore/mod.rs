//! Restore hooks (a `RestoreDataPhase`): while the restore sends objects,
//! init hooks are injected into pods and workload templates and the
//! objects with post hooks are followed; once everything is in, each of
//! their pods is waited for (bounded) and its hook run (bounded). A hook
//! that hangs ends at its timeout and fails (or warns) naming the pod, so a
//! restore always ends.

pub mod spec;
mod wait;

use std::sync::Mutex;
use std::time::Duration;

use arca_kube::data::{AfterApply, ObjectPrepared, RestoreDataOutcome, RestoreDataPhase, RestoredObject};
use arca_kube::exec;
use arca_kube::objects;
use chrono::Utc;
use futures::StreamExt;
use futures::future::BoxFuture;
use serde_json::Value;

use crate::hooks::record::HookRun;
use crate::hooks::{HookPhase, HookRecord, choose_container};
use spec::PostHook;

/// Pods whose hooks run at the same time.
const CONCURRENT_PODS: usize = 8;

/// `arca restore create`'s restore-hook settings.
#[derive(Debug, Clone)]
pub struct RestoreHookOptions {
    /// Caps every hook's wait for its pod (a hook's own, shorter bound wins).
    pub max_wait: Option<Duration>,
}

/// The restore-hook phase of a restore.
pub struct RestoreHooks {
    opts: RestoreHookOptions,
    /// Annotation errors met while preparing objects: reported as failed hooks.
    invalid: Mutex<Vec<(String, String)>>,
}

impl RestoreHooks {
    pub fn new(opts: RestoreHookOptions) -> Self {
        RestoreHooks { opts, invalid: Mutex::new(Vec::new()) }
    }
}

fn describe(obj: &Value) -> String {
    objects::describe(objects::kind(obj), objects::namespace(obj), objects::name(obj))
}

impl RestoreDataPhase for RestoreHooks {
    fn prepare_object(&self, desired: &mut Value) -> ObjectPrepared {
        let Some(pointer) = spec::pod_template_pointer(objects::kind(desired)) else {
            return ObjectPrepared::default();
        };
        let Some(annotations) = spec::template_annotations(desired, pointer).cloned() else {
            return ObjectPrepared::default();
        };
        let mut prepared = ObjectPrepared::default();
        let shown = describe(desired);
        let invalid = |why: String| {
            self.invalid.lock().unwrap_or_else(|e| e.into_inner()).push((shown.clone(), why));
        };
        match spec::init_hook(&annotations) {
            Ok(Some(hook)) => match spec::inject_init(desired, pointer, &hook) {
                Ok(()) => prepared.note = Some(format!("restore hook: init container {:?} injected", hook.name)),
                Err(why) => invalid(format!("init restore hook not injected: {why}")),
            },
            Ok(None) => {}
            Err(why) => invalid(why),
        }
        match spec::post_hook(&annotations) {
            Ok(Some(_)) => prepared.follow = true,
            Ok(None) => {}
            Err(why) => invalid(why),
        }
        prepared
    }

    fn after_apply<'a>(&'a self, ctx: AfterApply<'a>) -> BoxFuture<'a, RestoreDataOutcome> {
        Box::pin(self.run_all(ctx))
    }
}

impl RestoreHooks {
    async fn run_all(&self, ctx: AfterApply<'_>) -> RestoreDataOutcome {
        let mut out = RestoreDataOutcome::default();
        for (object, why) in std::mem::take(&mut *self.invalid.lock().unwrap_or_else(|e| e.into_inner())) {
            out.failed += 1;
            out.warnings.push(format!("{object}: restore hook not run: {why}"));
        }
        let kube = ctx.kube;
        let mut runs: Vec<Vec<HookRecord>> = Vec::new();
        let mut pending = futures::stream::FuturesUnordered::new();
        for restored in ctx.restored {
            if pending.len() >= CONCURRENT_PODS
                && let Some(done) = pending.next().await
            {
                runs.push(done);
            }
            pending.push(self.run_object(kube, restored));
        }
        while let Some(done) = pending.next().await {
            runs.push(done);
        }
        for record in runs.into_iter().flatten() {
            if record.fails_item() {
                out.failed += 1;
                out.warnings.push(record.failure_line());
            } else if record.warns() || record.state == crate::hooks::HookState::Skipped {
                out.warnings.push(record.failure_line());
            }
            out.log
                .push(format!("restore hook in {} container {:?}: {:?}", record.pod, record.container, record.state));
            match serde_json::to_value(&record) {
                Ok(v) => out.hooks.push(v),
                Err(e) => out.warnings.push(format!("{}: hook record not stored: {e}", record.pod)),
            }
        }
        out
    }

    /// The hooks of one followed object: its pods, each waited for and run.
    async fn run_object(&self, kube: &arca_kube::api::Kube, restored: RestoredObject) -> Vec<HookRecord> {
        let obj = &restored.object;
        let Some(pointer) = spec::pod_template_pointer(objects::kind(obj)) else {
            return Vec::new();
        };
        let Some(Ok(Some(mut hook))) = spec::template_annotations(obj, pointer).map(spec::post_hook) else {
            return Vec::new();
        };
        if let Some(max) = self.opts.max_wait {
            hook.wait_timeout = hook.wait_timeout.min(max);
        }
        let deadline = tokio::time::Instant::now() + hook.wait_timeout;
        let pods = match wait::pods_of(kube, obj, deadline).await {
            Ok(pods) => pods,
            Err(why) => {
                let run = hook_run(&describe(obj), "", &hook);
                return vec![HookRecord::skipped(&run, why).failed_wait()];
            }
        };
        let mut records = Vec::new();
        for pod in pods {
            records.push(run_in_pod(kube, &pod, &hook, deadline).await);
        }
        records
    }
}

fn hook_run(pod: &str, container: &str, hook: &PostHook) -> HookRun {
    HookRun {
        pod: pod.to_string(),
        container: container.to_string(),
        phase: HookPhase::Restore,
        name: None,
        source: hook.source.clone(),
        command: hook.command.clone(),
        on_error: hook.on_error,
    }
}

/// Waits for `pod` (until `deadline`), then runs the hook in it.
async fn run_in_pod(
    kube: &arca_kube::api::Kube,
    pod: &wait::PodName,
    hook: &PostHook,
    deadline: tokio::time::Instant,
) -> HookRecord {
    let shown = format!("{}/{}", pod.namespace, pod.name);
    let live = match wait::ready(kube, pod, hook, deadline).await {
        Ok(live) => live,
        Err(why) => {
            return HookRecord::skipped(&hook_run(&shown, hook.container.as_deref().unwrap_or(""), hook), why)
                .failed_wait();
        }
    };
    let container = match choose_container(&live, hook.container.as_deref(), &[]) {
        Ok(c) => c,
        Err(why) => {
            return HookRecord::skipped(&hook_run(&shown, hook.container.as_deref().unwrap_or(""), hook), why)
                .failed_wait();
        }
    };
    let run = hook_run(&shown, &container, hook);
    let target = exec::Target { namespace: pod.namespace.clone(), pod: pod.name.clone(), container };
    let started = Utc::now();
    let result = exec::run(kube, &target, &hook.command, None, hook.exec_timeout).await;
    HookRecord::of(&run, started, &result)
}

impl HookRecord {
    /// A hook whose pod never became ready to run it: failed, not skipped.
    fn failed_wait(mut self) -> HookRecord {
        self.state = crate::hooks::HookState::Failed;
        self
    }
}
