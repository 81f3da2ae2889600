//! Simulated controllers and kubelet, run on one thread per cluster. Each pass
//! reconciles everything when the store changed, and watches running pod
//! processes in between.

mod binder;
mod crds;
mod events;
mod fsutil;
mod gc;
mod group_snapshots;
mod jobs;
pub mod kubelet;
pub mod namespaces;
mod protection;
mod quantity;
mod scheduler;
mod snapshots;
mod volumes;
mod workloads;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::cluster::Cluster;
use crate::state::{State, WriteOpts};

const TICK: Duration = Duration::from_millis(10);
const RESYNC: Duration = Duration::from_millis(500);
/// Rest after a reconcile pass, in multiples of how long the pass took.
const IDLE_PER_PASS: u32 = 4;

/// Stops the controller thread (and kills pod processes) when stopped.
pub struct Handle {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Handle {
    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn spawn(cluster: Arc<Cluster>) -> std::io::Result<Handle> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread =
        std::thread::Builder::new().name("arca-testcluster-controllers".into()).spawn(move || run(cluster, flag))?;
    Ok(Handle { stop, thread: Some(thread) })
}

fn run(cluster: Arc<Cluster>, stop: Arc<AtomicBool>) {
    let mut kubelet = kubelet::Kubelet::default();
    let mut binder = binder::Binder::new(cluster.volume_deletion_delay);
    let mut scheduler = scheduler::Scheduler::default();
    let mut seen_rv = 0;
    let mut last = Instant::now();
    let mut pass = Duration::ZERO;
    while !stop.load(Ordering::SeqCst) {
        let rv = cluster.lock().store.rv();
        // Controllers here rescan the store rather than follow informers; on
        // a large store a pass takes long, so rest several times as long as
        // the last pass took, leaving the API server most of the lock.
        let rest = pass * IDLE_PER_PASS;
        let due = rv != seen_rv || last.elapsed() > RESYNC.max(rest) || binder.due();
        if last.elapsed() >= rest && due {
            seen_rv = rv;
            last = Instant::now();
            namespaces::reconcile(&cluster);
            crds::reconcile(&cluster);
            gc::reconcile(&cluster);
            volumes::reconcile(&cluster);
            binder.reconcile(&cluster);
            protection::reconcile(&cluster);
            snapshots::reconcile(&cluster);
            group_snapshots::reconcile(&cluster);
            jobs::reconcile(&cluster);
            workloads::reconcile(&cluster);
            crate::aggregation::refresh(&cluster);
            scheduler.reconcile(&cluster);
            kubelet.reconcile(&cluster);
            pass = last.elapsed();
        } else if kubelet.busy() {
            // Only process exits to notice.
            kubelet.reap(&cluster);
        }
        std::thread::sleep(TICK);
    }
    kubelet.shutdown();
}

/// Objects of `group`/`plural` (all namespaces), if the type is served.
pub(crate) fn objects(state: &State, group: &str, plural: &str) -> Vec<Value> {
    match state.resource_any(group, plural) {
        Some(rt) => state.all(&rt, None),
        None => Vec::new(),
    }
}

pub(crate) fn opts(manager: &str) -> WriteOpts {
    WriteOpts::manager(manager)
}

/// Logs a controller write that failed (conflicts are retried on the next pass).
pub(crate) fn log_err<T>(what: &str, r: Result<T, crate::error::ApiError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::debug!("{what}: {e}");
            None
        }
    }
}
