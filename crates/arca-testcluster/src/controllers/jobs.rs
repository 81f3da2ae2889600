//! The Job controller: one pod at a time per Job (parallelism is honoured up to
//! the remaining completions), `Complete` on enough successes, `Failed` after
//! `backoffLimit` failures.

use serde_json::{Value, json};

use super::{log_err, objects, opts};
use crate::cluster::Cluster;
use crate::meta;
use crate::state::State;

const MANAGER: &str = "job-controller";

fn condition(state: &Value, kind: &str) -> bool {
    state.pointer("/status/conditions").and_then(Value::as_array).is_some_and(|cs| {
        cs.iter().any(|c| {
            c.get("type").and_then(Value::as_str) == Some(kind)
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
    })
}

fn cond(kind: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": kind, "status": "True", "reason": reason, "message": message, "lastProbeTime": now, "lastTransitionTime": now})
}

pub fn reconcile(cluster: &Cluster) {
    let mut state = cluster.lock();
    let pods = objects(&state, "", "pods");
    for job in objects(&state, "batch", "jobs") {
        if meta::is_deleting(&job) || condition(&job, "Complete") || condition(&job, "Failed") {
            continue;
        }
        let uid = meta::uid(&job);
        let owned: Vec<&Value> = pods
            .iter()
            .filter(|p| meta::namespace(p) == meta::namespace(&job) && meta::owner_uids(p).iter().any(|u| u == uid))
            .collect();
        let phase = |p: &&Value| meta::str_at(p, "/status/phase").unwrap_or_default().to_string();
        let succeeded = owned.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
        let failed = owned.iter().filter(|p| phase(p) == "Failed").count() as i64;
        let active = owned
            .iter()
            .filter(|p| !meta::is_deleting(p) && !matches!(phase(p).as_str(), "Succeeded" | "Failed"))
            .count() as i64;
        let ready = owned.iter().filter(|p| phase(p) == "Running").count() as i64;
        reconcile_job(&mut state, &job, succeeded, failed, active, ready);
    }
}

fn reconcile_job(state: &mut State, job: &Value, succeeded: i64, failed: i64, active: i64, ready: i64) {
    let (Some(job_rt), Some(pod_rt)) = (state.resource("batch", "v1", "jobs"), state.resource("", "v1", "pods")) else {
        return;
    };
    let spec = |k: &str, d: i64| job.pointer(&format!("/spec/{k}")).and_then(Value::as_i64).unwrap_or(d);
    let (completions, parallelism, backoff) = (spec("completions", 1), spec("parallelism", 1), spec("backoffLimit", 6));
    let suspended = job.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true);
    let now = meta::now();
    let (ns, name) = (meta::namespace(job).to_string(), meta::name(job).to_string());
    let mut status = job.get("status").cloned().unwrap_or(json!({}));
    let start = status.get("startTime").cloned().unwrap_or(json!(now));
    let mut active_now = active;
    let mut conditions: Vec<Value> = Vec::new();
    if succeeded >= completions {
        conditions.push(cond(
            "SuccessCriteriaMet",
            "CompletionsReached",
            "Reached expected number of succeeded pods",
            &now,
        ));
        conditions.push(cond("Complete", "CompletionsReached", "Reached expected number of succeeded pods", &now));
        status["completionTime"] = json!(now);
    } else if failed > backoff {
        conditions.push(cond(
            "FailureTarget",
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
            &now,
        ));
        conditions.push(cond("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit", &now));
    } else if !suspended {
        let wanted = parallelism.min(completions - succeeded);
        for _ in active..wanted {
            let pod = pod_for(job);
            if log_err("job pod", state.create(&pod_rt, &ns, pod, &opts(MANAGER))).is_some() {
                active_now += 1;
            }
        }
    }
    if !conditions.is_empty() {
        status["conditions"] = Value::Array(conditions);
    }
    status["startTime"] = start;
    status["active"] = json!(active_now);
    status["succeeded"] = json!(succeeded);
    status["failed"] = json!(failed);
    status["ready"] = json!(ready);
    status["terminating"] = json!(0);
    status["uncountedTerminatedPods"] = json!({});
    log_err("job status", state.update(&job_rt, &ns, &name, json!({"status": status}), "status", &opts(MANAGER)));
}

fn pod_for(job: &Value) -> Value {
    let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let mut metadata = template.get("metadata").cloned().unwrap_or(json!({}));
    let m = meta::as_map(&mut metadata);
    m.insert("generateName".into(), json!(format!("{}-", meta::name(job))));
    m.remove("name");
    m.insert(
        "ownerReferences".into(),
        json!([{"apiVersion": "batch/v1", "kind": "Job", "name": meta::name(job), "uid": meta::uid(job), "controller": true, "blockOwnerDeletion": true}]),
    );
    json!({"metadata": metadata, "spec": template.get("spec").cloned().unwrap_or(json!({}))})
}
