//! Fault injection.

mod common;

use std::time::{Duration, Instant};

use arca_testcluster::{Fault, FaultRule};
use common::{cluster, status_of};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;

#[tokio::test]
async fn injected_faults() -> anyhow::Result<()> {
    let (c, client) = cluster().await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let path = "^/api/v1/namespaces/default/configmaps/kube-root-ca.crt$";

    // kube's client retries 429 (honouring Retry-After) and 503 on its own.
    let id = c.faults().add(FaultRule::new(Fault::TooManyRequests { retry_after_secs: 1 }).path(path)?.times(1));
    let t = Instant::now();
    api.get("kube-root-ca.crt").await?;
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert_eq!(c.faults().fired(id), 1);
    let id = c.faults().add(FaultRule::new(Fault::ServiceUnavailable).path(path)?.times(2));
    api.get("kube-root-ca.crt").await?;
    assert_eq!(c.faults().fired(id), 2);

    let st = {
        c.faults().add(FaultRule::new(Fault::InternalError).path(path)?.method("GET").times(1));
        status_of(api.get("kube-root-ca.crt").await)
    };
    assert_eq!((st.code, st.reason.as_str()), (500, "InternalError"));

    c.faults().add(FaultRule::new(Fault::DropConnection).path(path)?.times(1));
    let dropped = api.get("kube-root-ca.crt").await;
    assert!(matches!(dropped, Err(ref e) if !matches!(e, kube::Error::Api(_))), "{dropped:?}");

    c.faults().add(FaultRule::new(Fault::Delay(Duration::from_millis(300))).path(path)?.times(1));
    let t = Instant::now();
    api.get("kube-root-ca.crt").await?;
    assert!(t.elapsed() >= Duration::from_millis(300));

    // Exhausted rules no longer fire.
    api.get("kube-root-ca.crt").await?;

    // Probability 0 never fires; clear removes everything.
    c.faults().add(FaultRule::new(Fault::InternalError).probability(0.0));
    api.get("kube-root-ca.crt").await?;
    c.faults().add(FaultRule::new(Fault::InternalError));
    assert_eq!(status_of(api.get("kube-root-ca.crt").await).code, 500);
    c.faults().clear();
    api.get("kube-root-ca.crt").await?;
    Ok(())
}

#[tokio::test]
async fn status_codes_and_retry_after_without_client_retries() -> anyhow::Result<()> {
    let c = arca_testcluster::TestCluster::start().await?;
    let kc = kube::config::Kubeconfig::read_from(c.kubeconfig_path())?;
    let mut config = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
    config.default_retry = false;
    let client = kube::Client::try_from(config)?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    c.faults().add(FaultRule::new(Fault::TooManyRequests { retry_after_secs: 7 }).times(1));
    let req = http::Request::get("/api/v1/namespaces").body(Vec::new())?;
    let resp = client.send(req.map(kube::client::Body::from)).await?;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
    c.faults().add(FaultRule::new(Fault::ServiceUnavailable).times(1));
    assert_eq!(status_of(api.get("kube-root-ca.crt").await).code, 503);
    c.faults().add(FaultRule::new(Fault::Status(504)).times(1));
    assert_eq!(status_of(api.get("kube-root-ca.crt").await).code, 504);
    Ok(())
}
