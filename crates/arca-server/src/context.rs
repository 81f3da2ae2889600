//! What every controller shares (`Arc<Context>`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kube::Client;
use tokio::sync::watch;

use crate::config::ServerConfig;
use crate::error::{Error, Result};
use crate::events::Events;
use crate::slots::Slots;

/// A backup or restore running in this process.
pub struct Running {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    /// Set to true to stop it: the job drops its work (no snapshot is
    /// written), thaws what it froze, and marks itself failed.
    pub cancel: watch::Sender<bool>,
}

pub struct Context {
    pub client: Client,
    pub config: ServerConfig,
    /// What tenant clients are derived from (tenant mode needs it).
    pub kube_config: Option<kube::Config>,
    /// The API server's address, as backup reports name the cluster.
    pub server: String,
    pub slots: Slots,
    pub events: Events,
    /// Jobs running here, by `kind/namespace/name`.
    running: Mutex<HashMap<String, Running>>,
    /// Set on shutdown: no new work is started.
    stopping: AtomicBool,
    /// Per object: not retried before this instant (backoff).
    not_before: Mutex<HashMap<String, (Instant, u32)>>,
}

/// The key of an object in the running and backoff tables.
pub fn key(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}/{namespace}/{name}")
}

impl Context {
    pub fn new(client: Client, config: ServerConfig) -> Self {
        let kube_config = config.kube_config.clone();
        let server = kube_config.as_ref().map(|c| c.cluster_url.to_string()).unwrap_or_else(|| "in-cluster".into());
        let events = Events::new(client.clone(), &config.identity);
        Context {
            client,
            config,
            kube_config,
            server,
            slots: Slots::new(),
            events,
            running: Mutex::default(),
            stopping: AtomicBool::new(false),
            not_before: Mutex::default(),
        }
    }

    /// The client for a namespace's work (impersonating its tenant in tenant mode).
    pub fn client_for(&self, namespace: &str) -> Result<Client> {
        if !self.config.tenant_mode {
            return Ok(self.client.clone());
        }
        let Some(base) = &self.kube_config else {
            return Err(Error::Other(
                "tenant mode needs the server's client configuration (ServerConfig.kube_config)".into(),
            ));
        };
        crate::tenant::client_for(base, namespace, true)
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    pub fn stop_taking_work(&self) {
        self.stopping.store(true, Ordering::SeqCst);
    }

    pub fn is_running(&self, key: &str) -> bool {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).contains_key(key)
    }

    pub fn register(&self, key: String, job: Running) {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).insert(key, job);
    }

    pub fn finished(&self, key: &str) {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Asks a running job to stop; true if one runs.
    pub fn cancel(&self, key: &str) -> bool {
        match self.running.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            Some(job) => {
                let _ = job.cancel.send(true);
                true
            }
            None => false,
        }
    }

    pub fn running_count(&self) -> usize {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Asks every running job to stop; returns their `kind/namespace/name`.
    pub fn cancel_all(&self) -> Vec<String> {
        let map = self.running.lock().unwrap_or_else(|p| p.into_inner());
        map.values().for_each(|j| {
            let _ = j.cancel.send(true);
        });
        map.values().map(|j| key(j.kind, &j.namespace, &j.name)).collect()
    }

    /// How long until `key` may be tried again, if it backs off.
    pub fn backing_off(&self, key: &str) -> Option<Duration> {
        let map = self.not_before.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).and_then(|(at, _)| at.checked_duration_since(Instant::now())).filter(|d| !d.is_zero())
    }

    /// Records a failed attempt; returns the delay before the next (2 s doubling to 2 min).
    pub fn back_off(&self, key: &str) -> Duration {
        let mut map = self.not_before.lock().unwrap_or_else(|p| p.into_inner());
        let attempts = map.get(key).map(|(_, n)| n + 1).unwrap_or(0);
        let delay = backoff_delay(attempts);
        map.insert(key.to_string(), (Instant::now() + delay, attempts));
        delay
    }

    pub fn clear_backoff(&self, key: &str) {
        self.not_before.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }
}

/// 2 s, 4 s, 8 s, … at most 2 minutes.
pub fn backoff_delay(attempt: u32) -> Duration {
    Duration::from_secs((2u64 << attempt.min(6)).min(120))
}

/// Writes an object's whole status (a merge patch of the status subresource).
pub async fn patch_status<K, S>(api: &kube::Api<K>, name: &str, status: &S) -> Result<()>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: serde::Serialize,
{
    let patch = serde_json::json!({ "status": status });
    api.patch_status(name, &kube::api::PatchParams::default(), &kube::api::Patch::Merge(&patch)).await?;
    Ok(())
}

/// Runs a job on its own thread and runtime: the library's backup and
/// restore futures are not `Send`, so they are driven by `block_on` there
/// (as the CLI drives them) instead of being spawned on the server's runtime.
pub fn spawn_job<F, Fut>(name: String, make: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let thread = name.clone();
    let spawned = std::thread::Builder::new().name(thread).spawn(move || {
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
            Ok(rt) => {
                rt.block_on(make());
                rt.shutdown_background();
            }
            Err(e) => tracing::error!("starting the runtime of {name}: {e}"),
        }
    });
    if let Err(e) = spawned {
        tracing::error!("starting a thread for a job: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tenant_mode_needs_the_base_config_and_derives_clients_from_it() {
        arca_testcluster::install_crypto_provider();
        let base = kube::Config::new("http://127.0.0.1:1".parse().unwrap());
        let client = Client::try_from(base.clone()).unwrap();
        let mut config = ServerConfig::new("arca-system", "a");
        config.tenant_mode = true;
        let without = Context::new(client.clone(), config.clone());
        let err = without.client_for("team-a").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("tenant mode"), "{err}");
        config.kube_config = Some(base);
        let with = Context::new(client, config);
        assert!(with.client_for("team-a").is_ok());
    }

    #[test]
    fn backoff_doubles_up_to_two_minutes() {
        let got: Vec<u64> = (0..9).map(|a| backoff_delay(a).as_secs()).collect();
        assert_eq!(got, vec![2, 4, 8, 16, 32, 64, 120, 120, 120]);
    }
}
