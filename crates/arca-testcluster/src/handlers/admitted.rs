//! Writes through admission, in upstream's order: mutating webhooks on the
//! intended object, then defaulting and validation, then validating webhooks
//! on the object as it would be stored, then the commit. The state lock is
//! never held while a webhook is called; the commit re-checks the object, and
//! a write that lost a race is planned again (as upstream's retry loop does;
//! a stale resourceVersion precondition then answers 409 Conflict).

use serde_json::Value;

use crate::admission::{self, Attributes, Operation, Phase};
use crate::cluster::Cluster;
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceType;
use crate::state::{DeleteOpts, Deleted, Patch, Planned, WriteOpts};

/// Attempts before a write that keeps losing races answers its 409.
const ATTEMPTS: usize = 5;

fn attributes(rt: &ResourceType, op: Operation, ns: &str, name: &str, sub: &str, options: Value) -> Attributes {
    Attributes {
        operation: op,
        rt: rt.clone(),
        sub: sub.to_string(),
        namespace: if rt.namespaced { ns.to_string() } else { String::new() },
        name: name.to_string(),
        dry_run: false,
        options,
        old: None,
    }
}

fn write_options(kind: &str, opts: &WriteOpts) -> Value {
    admission::options(kind, &opts.manager, opts.dry_run)
}

/// Upstream's admission sees the request's namespace on a new object.
fn with_namespace(rt: &ResourceType, ns: &str, mut obj: Value) -> Value {
    if rt.namespaced {
        if let Some(m) = obj.as_object_mut() {
            let meta = m.entry("metadata").or_insert_with(|| Value::Object(Default::default()));
            if let Some(meta) = meta.as_object_mut() {
                meta.entry("namespace").or_insert_with(|| Value::String(ns.to_string()));
            }
        }
    }
    obj
}

/// POST.
pub async fn create(cluster: &Cluster, rt: &ResourceType, ns: &str, body: Value, opts: &WriteOpts) -> ApiResult<Value> {
    let mut attrs =
        attributes(rt, Operation::Create, ns, crate::meta::name(&body), "", write_options("CreateOptions", opts));
    attrs.dry_run = opts.dry_run;
    let body = with_namespace(rt, ns, body);
    let mutating = {
        let state = cluster.lock();
        state.check_namespace_for(rt, ns)?;
        admission::select(&state, &cluster.endpoints, Phase::Mutating, &attrs, Some(&body))
    };
    let body = admission::mutate(&mutating, &attrs, Some(body)).await?.unwrap_or_default();
    let (prepared, validating) = {
        let mut state = cluster.lock();
        let prepared = state.prepare_create(rt, ns, body, opts, true)?;
        crate::auth::escalation::check(cluster, &state, &crate::auth::current_user(), rt, ns, &prepared, None)?;
        attrs.name = crate::meta::name(&prepared).to_string();
        let validating = admission::select(&state, &cluster.endpoints, Phase::Validating, &attrs, Some(&prepared));
        if validating.is_empty() {
            return state.commit_create(rt, ns, prepared, opts);
        }
        (prepared, validating)
    };
    admission::validate(&validating, &attrs, Some(&prepared)).await?;
    cluster.lock().commit_create(rt, ns, prepared, opts)
}

/// The body of a PUT or PATCH.
#[derive(Debug, Clone)]
pub enum Change {
    Replace(Value),
    Patch(Patch),
}

/// PUT or PATCH (server-side apply may create); true when it created.
pub async fn update(
    cluster: &Cluster,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    sub: &str,
    change: &Change,
    opts: &WriteOpts,
) -> ApiResult<(bool, Value)> {
    for _ in 1..ATTEMPTS {
        if let Some(done) = update_once(cluster, rt, ns, name, sub, change, opts).await? {
            return Ok(done);
        }
    }
    // The last attempt answers its own 409 if it loses too.
    match update_once(cluster, rt, ns, name, sub, change, opts).await? {
        Some(done) => Ok(done),
        None => Err(ApiError::stale(&rt.group, &rt.plural, name)),
    }
}

/// A commit that lost a race (the object changed, or apply's create found it
/// created) is retried; other errors are the answer.
fn lost_race(r: ApiResult<Value>) -> ApiResult<Option<Value>> {
    match r {
        Err(e) if e.code == 409 => Ok(None),
        other => other.map(Some),
    }
}

/// One attempt; `None` when the commit lost a race.
async fn update_once(
    cluster: &Cluster,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    sub: &str,
    change: &Change,
    opts: &WriteOpts,
) -> ApiResult<Option<(bool, Value)>> {
    let (mut plan, attrs, mutating) = {
        let state = cluster.lock();
        let plan = match change {
            Change::Replace(body) => state.plan_update(rt, ns, name, body.clone())?,
            Change::Patch(p) => state.plan_patch(rt, ns, name, p.clone(), sub, opts)?,
        };
        let attrs = update_attributes(rt, ns, name, sub, &plan, opts);
        let mutating = admission::select(&state, &cluster.endpoints, Phase::Mutating, &attrs, Some(&plan.new));
        (plan, attrs, mutating)
    };
    let created = plan.old.is_none();
    if !mutating.is_empty() {
        plan.new = admission::mutate(&mutating, &attrs, Some(plan.new)).await?.unwrap_or_default();
    }
    let (cand, validating) = {
        let mut state = cluster.lock();
        let cand = state.prepare_planned(rt, ns, &plan, sub, opts)?;
        let user = crate::auth::current_user();
        crate::auth::escalation::check(cluster, &state, &user, rt, ns, &cand, plan.old.as_ref())?;
        let validating = admission::select(&state, &cluster.endpoints, Phase::Validating, &attrs, Some(&cand));
        if validating.is_empty() {
            return Ok(lost_race(state.commit_planned(rt, ns, &plan, cand, sub, opts))?.map(|v| (created, v)));
        }
        (cand, validating)
    };
    admission::validate(&validating, &attrs, Some(&cand)).await?;
    let committed = cluster.lock().commit_planned(rt, ns, &plan, cand, sub, opts);
    Ok(lost_race(committed)?.map(|v| (created, v)))
}

fn update_attributes(
    rt: &ResourceType,
    ns: &str,
    name: &str,
    sub: &str,
    plan: &Planned,
    opts: &WriteOpts,
) -> Attributes {
    let (op, kind) = match plan.old {
        None => (Operation::Create, "CreateOptions"),
        Some(_) => (Operation::Update, "UpdateOptions"),
    };
    let mut attrs = attributes(rt, op, ns, name, sub, write_options(kind, opts));
    attrs.dry_run = opts.dry_run;
    attrs.old = plan.old.clone();
    attrs
}

/// DELETE of one object: webhooks see the object as `oldObject`.
pub async fn delete(
    cluster: &Cluster,
    rt: &ResourceType,
    ns: &str,
    name: &str,
    opts: &DeleteOpts,
) -> ApiResult<Deleted> {
    let mut options = admission::options("DeleteOptions", "", opts.dry_run);
    if let Some(p) = &opts.propagation {
        options["propagationPolicy"] = Value::String(p.clone());
    }
    let mut attrs = attributes(rt, Operation::Delete, ns, name, "", options);
    attrs.dry_run = opts.dry_run;
    let (mutating, validating) = {
        let mut state = cluster.lock();
        attrs.old = Some(state.get(rt, ns, name)?);
        let mutating = admission::select(&state, &cluster.endpoints, Phase::Mutating, &attrs, None);
        let validating = admission::select(&state, &cluster.endpoints, Phase::Validating, &attrs, None);
        if mutating.is_empty() && validating.is_empty() {
            return state.delete(rt, ns, name, opts);
        }
        (mutating, validating)
    };
    admission::mutate(&mutating, &attrs, None).await?;
    admission::validate(&validating, &attrs, None).await?;
    cluster.lock().delete(rt, ns, name, opts)
}
