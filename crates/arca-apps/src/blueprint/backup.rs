//! The backup data phase of blueprints: for every bound application in the
//! backup's selection, its blueprint's backup action in a Running and Ready
//! pod, each stream straight into the repository; one [`DumpRecord`] per
//! stream in the report's `dumps`. Runs before the volume phase (in a
//! `BackupChain`), inside the backup's lock.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arca_kube::api::Kube;
use arca_kube::backup::ItemError;
use arca_kube::data::{BackupData, BackupDataPhase, DataOutcome};
use arca_kube::exec::{self, Target};
use arca_repo::Repository;
use chrono::Utc;
use futures::future::BoxFuture;
use tokio::sync::mpsc;

use super::app::{self, BoundApp};
use super::binding::Bindings;
use super::format::{BackupStream, Blueprint};
use super::library::Library;
use super::record::{DumpRecord, DumpState, seconds};
use super::stream::{self, ChannelReader, Command, Msg, QUEUE};
use super::template;

pub struct BackupSettings {
    pub library: Library,
    pub bindings: Bindings,
    /// Time one stream (all its batches) may take.
    pub timeout: Duration,
}

/// The phase, for a `BackupChain`.
pub struct BlueprintBackup(pub Arc<BackupSettings>);

impl BackupDataPhase for BlueprintBackup {
    fn run<'a>(&'a self, ctx: BackupData<'a>) -> BoxFuture<'a, DataOutcome> {
        Box::pin(async move {
            let mut outcome = DataOutcome::default();
            let wanted =
                |o: &serde_json::Value| ctx.filter.object_namespace_included(o) && ctx.filter.object_selected(o);
            let namespaces = ctx.filter.literal_namespaces();
            let apps = match app::find(ctx.kube, &self.0.bindings, namespaces.as_deref(), wanted).await {
                Ok(a) => a,
                // Not an item of its own: the report says no application was dumped, and why.
                Err(why) => {
                    outcome
                        .warnings
                        .push(format!("blueprints: cannot list the bound applications, none dumped: {why}"));
                    return outcome;
                }
            };
            for app in apps {
                let records = self.backup_app(ctx.kube, ctx.repo, ctx.backup, &app).await;
                for r in records {
                    outcome.log.push(log_line(&r));
                    if r.state == DumpState::Failed {
                        let reason =
                            format!("dump {} of {}: {}", r.stream, r.object, r.reason.clone().unwrap_or_default());
                        outcome.errors.push(ItemError { object: r.object.clone(), reason });
                    }
                    match serde_json::to_value(&r) {
                        Ok(v) => outcome.dumps.push(v),
                        Err(e) => outcome.warnings.push(format!("dump record of {}: {e}", r.object)),
                    }
                }
            }
            outcome
        })
    }
}

fn log_line(r: &DumpRecord) -> String {
    match r.state {
        DumpState::Completed => format!(
            "dump {} of {} ({}) in {}: {} bytes, {} stored, {:.1}s",
            r.stream, r.object, r.blueprint, r.pod, r.bytes, r.stored_bytes, r.duration_secs
        ),
        DumpState::Failed => format!(
            "dump {} of {} ({}) failed: {}",
            r.stream,
            r.object,
            r.blueprint,
            r.reason.as_deref().unwrap_or_default()
        ),
    }
}

/// A stream to dump, its name and item decided.
struct Planned<'a> {
    spec: &'a BackupStream,
    name: String,
    item: Option<String>,
}

/// Where an app's action runs, and what it gets.
struct Place {
    target: Target,
    preamble: Option<Vec<u8>>,
    values: BTreeMap<&'static str, String>,
}

impl BlueprintBackup {
    async fn backup_app(&self, kube: &Kube, repo: &Repository, backup: &str, app: &BoundApp) -> Vec<DumpRecord> {
        let started = Utc::now();
        let failed = |why: String| {
            vec![DumpRecord {
                blueprint: app.binding.blueprint.clone(),
                object: app.key.clone(),
                pod: String::new(),
                container: String::new(),
                stream: "-".into(),
                item: None,
                state: DumpState::Failed,
                snapshot: None,
                bytes: 0,
                stored_bytes: 0,
                started,
                duration_secs: seconds(started),
                reason: Some(why),
            }]
        };
        let Some(bp) = self.0.library.get(&app.binding.blueprint) else {
            return failed(format!(
                "{} (bound by {})",
                self.0.library.unknown(&app.binding.blueprint),
                app.binding.source
            ));
        };
        let place = match self.place(kube, app, bp).await {
            Ok(p) => p,
            Err(why) => return failed(why),
        };
        let planned = match self.plan(kube, bp, &place).await {
            Ok(p) => p,
            Err(why) => return failed(why),
        };
        let mut records = Vec::new();
        for p in planned {
            records.push(self.dump(kube, repo, backup, app, bp, &place, p).await);
        }
        records
    }

    async fn place(&self, kube: &Kube, app: &BoundApp, bp: &Blueprint) -> Result<Place, String> {
        let pod = app::ready_pod(kube, &app.namespace, &app.kind, &app.name, &app.object).await?;
        let container = app::choose_container(&pod, &bp.backup.container)?;
        let target = app::target(&pod, container);
        let env =
            app::secret_values(kube, &app.namespace, app.binding.secret.as_deref(), &bp.backup.secret_env, &app.key)
                .await?;
        let preamble = if env.is_empty() { None } else { Some(stream::env_preamble(&env)?) };
        let values = BTreeMap::from([
            ("namespace", app.namespace.clone()),
            ("name", app.name.clone()),
            ("pod", target.pod.clone()),
            ("container", target.container.clone()),
        ]);
        Ok(Place { target, preamble, values })
    }

    fn argv(&self, place: &Place, argv: &[String], extra: &[(&'static str, &str)]) -> Result<Vec<String>, String> {
        let mut values = place.values.clone();
        for (k, v) in extra {
            values.insert(k, v.to_string());
        }
        let argv = template::expand_all(argv, &values)?;
        Ok(if place.preamble.is_some() { stream::with_env_from_stdin(&argv) } else { argv })
    }

    /// The streams, with `forEach` lists run.
    async fn plan<'b>(&self, kube: &Kube, bp: &'b Blueprint, place: &Place) -> Result<Vec<Planned<'b>>, String> {
        let mut out = Vec::new();
        for spec in &bp.backup.streams {
            let Some(list) = &spec.for_each else {
                out.push(Planned { spec, name: spec.name.clone(), item: None });
                continue;
            };
            let argv = self.argv(place, list, &[])?;
            let input = place.preamble.as_deref();
            let f = exec::run(kube, &place.target, &argv, input, self.0.timeout).await.map_err(|e| e.to_string())?;
            if let Some(why) = stream::failure(&argv[0], &f) {
                return Err(format!("listing the items of stream {}: {why}", spec.name));
            }
            if f.stdout.truncated {
                return Err(format!(
                    "listing the items of stream {}: more than {} bytes of names",
                    spec.name,
                    exec::OUTPUT_KEPT
                ));
            }
            for item in f.stdout.text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let values = BTreeMap::from([("item", app::stream_safe(item))]);
                let name = template::expand(&spec.name, &values)?;
                out.push(Planned { spec, name, item: Some(item.to_string()) });
            }
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    async fn dump(
        &self,
        kube: &Kube,
        repo: &Repository,
        backup: &str,
        app: &BoundApp,
        bp: &Blueprint,
        place: &Place,
        planned: Planned<'_>,
    ) -> DumpRecord {
        let started = Utc::now();
        let mut record = DumpRecord {
            blueprint: bp.name.clone(),
            object: app.key.clone(),
            pod: format!("{}/{}", place.target.namespace, place.target.pod),
            container: place.target.container.clone(),
            stream: planned.name.clone(),
            item: planned.item.clone(),
            state: DumpState::Failed,
            snapshot: None,
            bytes: 0,
            stored_bytes: 0,
            started,
            duration_secs: 0.0,
            reason: None,
        };
        let snapshot_name = app::stream_safe(&format!("dump-{}-{}-{}", app.namespace, app.name, planned.name));
        let tags = vec![format!("backup={backup}"), format!("blueprint={}", bp.name), "dump".to_string()];
        let (tx, rx) = mpsc::channel::<Msg>(QUEUE);
        let saver = repo.clone();
        let saving = tokio::task::spawn_blocking(move || {
            stream::save_dump(&saver, &snapshot_name, ChannelReader::new(rx), &tags)
        });
        let produced = match tokio::time::timeout(self.0.timeout, self.produce(kube, place, &planned, &tx)).await {
            Ok(r) => r,
            Err(_) => Err(format!("did not end within {}s and was stopped", self.0.timeout.as_secs())),
        };
        let _ = match &produced {
            Ok(()) => tx.send(Msg::End).await,
            Err(why) => tx.send(Msg::Failed(why.clone())).await,
        };
        drop(tx);
        let saved = saving.await.map_err(|e| format!("storing the dump: {e}")).and_then(|r| r);
        record.duration_secs = seconds(started);
        match (produced, saved) {
            (Ok(()), Ok((id, sizes))) => {
                record.state = DumpState::Completed;
                record.snapshot = Some(id.to_hex());
                record.bytes = sizes.bytes;
                record.stored_bytes = sizes.stored_bytes;
            }
            (Err(why), Err(store)) if why.contains("repository stopped") => record.reason = Some(store),
            (Err(why), _) | (Ok(()), Err(why)) => record.reason = Some(why),
        }
        record
    }

    /// Runs the stream's command (batch by batch for a cursor), its stdout into `tx`.
    async fn produce(
        &self,
        kube: &Kube,
        place: &Place,
        planned: &Planned<'_>,
        tx: &mpsc::Sender<Msg>,
    ) -> Result<(), String> {
        let item = planned.item.clone().unwrap_or_default();
        if !planned.spec.cursor {
            let argv = self.argv(place, &planned.spec.command, &[("item", &item)])?;
            let cmd = Command { kube, target: &place.target, argv, preamble: place.preamble.clone() };
            return stream::run_whole(&cmd, tx).await;
        }
        let mut cursor = "0".to_string();
        loop {
            let argv = self.argv(place, &planned.spec.command, &[("item", &item), ("cursor", &cursor)])?;
            let cmd = Command { kube, target: &place.target, argv, preamble: place.preamble.clone() };
            cursor = stream::run_batch(&cmd, tx).await?;
            if cursor == "0" {
                return Ok(());
            }
        }
    }
}
