//! Two `arca server` processes (the real binary) against the test cluster,
//! a schedule on a clock the test moves: the leader is killed (SIGKILL)
//! in the middle of a scheduled backup; the standby takes the Lease, marks
//! that backup Failed, and the next scheduled run completes. The killed
//! run left no snapshot and the repository checks clean.

mod server_env;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use arca_api::{Backup, BackupPhase};
use arca_testcluster::{Fault, FaultRule, TestCluster};
use chrono::{DateTime, Timelike, Utc};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use serde_json::json;
use server_env::{Env, Server, init_repo};

const NS: &str = "arca-system";

/// The server environment and the file the servers read their clock from.
struct Failover {
    env: Env,
    clock: PathBuf,
}

impl Failover {
    fn set_clock(&self, at: DateTime<Utc>) -> anyhow::Result<()> {
        // Written whole, then renamed: a reader never sees half a time.
        let tmp = self.clock.with_extension("tmp");
        std::fs::write(&tmp, at.to_rfc3339())?;
        std::fs::rename(&tmp, &self.clock)?;
        Ok(())
    }

    fn server(&self, identity: &str) -> anyhow::Result<Server> {
        let clock = self.clock.display().to_string();
        let args = [
            "server",
            "--identity",
            identity,
            "-n",
            NS,
            "--metrics-address",
            "none",
            "--lease-duration",
            "3s",
            "--shutdown-grace",
            "2s",
            "--clock-file",
            &clock,
        ];
        let child = self.env.cmd(&args).stdout(Stdio::null()).stderr(Stdio::null()).spawn()?;
        Ok(Server(child))
    }
}

async fn until<T, F, Fut>(within: Duration, what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        anyhow::ensure!(Instant::now() < deadline, "timed out after {within:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn holder(client: &Client) -> anyhow::Result<Option<String>> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), NS);
    Ok(leases.get_opt("arca-server").await?.and_then(|l| l.spec).and_then(|s| s.holder_identity))
}

fn phase(b: &Backup) -> BackupPhase {
    b.status.as_ref().map(|s| s.phase).unwrap_or_default()
}

async fn setup(client: &Client, cluster: &TestCluster) -> anyhow::Result<()> {
    let crds = arca_api::crds().into_iter().map(serde_json::to_value).collect::<Result<Vec<_>, _>>()?;
    cluster.create_objects(crds)?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in [NS, "shop"] {
        namespaces.create(&PostParams::default(), &serde_json::from_value(json!({"metadata": {"name": ns}}))?).await?;
    }
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    for i in 0..3 {
        let cm = json!({"metadata": {"name": format!("config-{i}")}, "data": {"k": format!("v{i}")}});
        configmaps.create(&PostParams::default(), &serde_json::from_value(cm)?).await?;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_killed_mid_backup_is_replaced_and_the_next_run_succeeds() -> anyhow::Result<()> {
    let cluster = TestCluster::start().await?;
    let client = cluster.client().await?;
    setup(&client, &cluster).await?;
    let dir = tempfile::tempdir()?;
    let env = Env { repo: init_repo(dir.path())?, kubeconfig: cluster.kubeconfig_path().to_path_buf() };
    let f = Failover { env, clock: dir.path().join("clock") };
    let env = &f.env;
    let start = Utc::now();
    f.set_clock(start)?;
    env.expect(0, &["location", "create", "main", "-n", "shop", "--default"]).await?;
    let args =
        ["schedule", "create", "hourly", "-n", "shop", "--schedule", "0 * * * *", "--include-namespaces", "shop"];
    env.expect(0, &[&args[..], &["--volumes", "none"]].concat()).await?;

    let mut a = f.server("replica-a")?;
    until(Duration::from_secs(20), "replica-a to lead", || async {
        Ok((holder(&client).await?.as_deref() == Some("replica-a")).then_some(()))
    })
    .await?;
    let _b = f.server("replica-b")?;

    // The first run's object listing hangs (a slow API server): the backup
    // is InProgress on replica-a when it dies.
    let slow = cluster.faults().add(
        FaultRule::new(Fault::Delay(Duration::from_secs(60)))
            .method("GET")
            .path("/namespaces/shop/configmaps$")?
            .times(1),
    );
    let next_hour = |t: DateTime<Utc>| {
        (t + chrono::Duration::hours(1))
            .with_minute(0)
            .and_then(|t| t.with_second(0))
            .and_then(|t| t.with_nanosecond(0))
    };
    let first_due = next_hour(start).ok_or_else(|| anyhow::anyhow!("no next hour"))?;
    f.set_clock(first_due + chrono::Duration::seconds(5))?;
    let first = format!("hourly-{}", first_due.format("%Y%m%d%H%M%S"));
    let backups: Api<Backup> = Api::namespaced(client.clone(), "shop");
    let running = until(Duration::from_secs(30), "the first run to be InProgress and stuck listing", || async {
        let b = backups.get_opt(&first).await?;
        Ok(b.filter(|b| phase(b) == BackupPhase::InProgress && cluster.faults().fired(slow) >= 1))
    })
    .await?;
    assert_eq!(running.status.as_ref().and_then(|s| s.worker.as_deref()), Some("replica-a"));
    a.kill();

    // The standby leads and fails the orphaned run, naming the dead replica.
    let failed = until(Duration::from_secs(30), "the killed run to be marked Failed", || async {
        Ok(backups.get_opt(&first).await?.filter(|b| phase(b) == BackupPhase::Failed))
    })
    .await?;
    assert_eq!(holder(&client).await?.as_deref(), Some("replica-b"));
    let status = failed.status.clone().unwrap_or_default();
    assert!(status.errors.iter().any(|e| e.reason == "ServerStopped"), "{status:?}");
    assert!(status.message.contains("replica-a"), "{}", status.message);
    assert!(status.snapshot.is_none(), "a killed run records no snapshot");

    // The next hour's run, on the new leader, completes.
    let second_due = first_due + chrono::Duration::hours(1);
    f.set_clock(second_due + chrono::Duration::seconds(5))?;
    let second = format!("hourly-{}", second_due.format("%Y%m%d%H%M%S"));
    let done = until(Duration::from_secs(40), "the next scheduled run to finish", || async {
        Ok(backups.get_opt(&second).await?.filter(|b| phase(b).is_final()))
    })
    .await?;
    let status = done.status.clone().unwrap_or_default();
    assert_eq!(status.phase, BackupPhase::Completed, "{status:?}");
    assert_eq!(status.worker.as_deref(), Some("replica-b"));
    assert!(status.progress.as_ref().is_some_and(|p| p.objects >= 3), "{status:?}");
    assert_eq!(
        backups.list(&Default::default()).await?.items.iter().map(|b| b.name_any()).collect::<Vec<_>>(),
        vec![first.clone(), second.clone()],
        "one Backup per due time"
    );

    // The repository holds exactly the completed run and checks clean.
    let listed = env.expect(0, &["backup", "list", "-o", "json"]).await?;
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout)?;
    let names: Vec<&str> = listed.as_array().into_iter().flatten().filter_map(|b| b["name"].as_str()).collect();
    assert_eq!(names, vec![second.as_str()], "{listed}");
    env.expect(0, &["repo", "check"]).await?;
    Ok(())
}
