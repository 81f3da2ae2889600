//! Finding the cluster like kubectl does: `--kubeconfig`, else `KUBECONFIG`
//! or `~/.kube/config`, else the in-cluster service account; `--context`
//! picks a context.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::{Error, Result};

/// Where to find the cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    pub kubeconfig: Option<std::path::PathBuf>,
    pub context: Option<String>,
}

/// A connected client and the server address it talks to.
pub struct Connection {
    pub client: kube::Client,
    pub server: String,
}

/// Selects the process's TLS crypto provider. Arca links two (ring through
/// kube, aws-lc-rs through the object-store clients) and rustls refuses to
/// guess; call before building any client. Idempotent.
pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

pub async fn connect(opts: &ClusterOptions) -> Result<Connection> {
    let config = client_config(opts).await?;
    let server = config.cluster_url.to_string();
    let client = kube::Client::try_from(config).map_err(|e| Error::Config(e.to_string()))?;
    Ok(Connection { client, server })
}

/// The client configuration [`connect`] builds its client from (for
/// clients derived from it, e.g. ones impersonating another identity).
pub async fn client_config(opts: &ClusterOptions) -> Result<kube::Config> {
    install_crypto();
    let mut config = load_config(opts.kubeconfig.as_deref(), opts.context.as_deref()).await?;
    // `Kube` retries on its own terms (a few times, backoff capped at seconds,
    // honouring the server's Retry-After). kube's built-in layer would retry a
    // 503 fifteen times with backoff growing to minutes: an aggregated API
    // that is down would stall a backup for five minutes per request.
    config.default_retry = false;
    Ok(config)
}

async fn load_config(path: Option<&Path>, context: Option<&str>) -> Result<kube::Config> {
    let options = KubeConfigOptions { context: context.map(String::from), ..Default::default() };
    match (path, context) {
        (Some(p), _) => {
            let kc = Kubeconfig::read_from(p).map_err(|e| Error::Config(format!("{}: {e}", p.display())))?;
            kube::Config::from_custom_kubeconfig(kc, &options).await.map_err(|e| Error::Config(e.to_string()))
        }
        (None, Some(_)) => kube::Config::from_kubeconfig(&options).await.map_err(|e| Error::Config(e.to_string())),
        (None, None) => kube::Config::infer().await.map_err(|e| Error::Config(e.to_string())),
    }
}
