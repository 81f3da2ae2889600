//! `arca location create|list|describe`: `BackupLocation`s for `arca
//! server`, made from the current `--repo` and password (the password goes
//! into a Secret and is never printed).

use std::collections::BTreeMap;

use anyhow::{Context as _, Result, bail};
use arca_api::common::SecretKeyRef;
use arca_api::{AccessMode, BackupLocation, BackupLocationSpec};
use arca_repo::backend::RepoUrl;
use clap::{Args, Subcommand};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{ObjectMeta, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde::Serialize;

use crate::context::Context;
use crate::exit;
use crate::kube_opts::{self, KubeOpts};
use crate::output::{Render, emit, table};

/// Field manager of what the CLI applies.
const MANAGER: &str = "arca";
/// Environment variables a credentials Secret is made of (object-store settings).
const CREDENTIAL_PREFIXES: [&str; 3] = ["AWS_", "GOOGLE_", "AZURE_"];

#[derive(Subcommand, Debug)]
pub enum LocationCommand {
    /// Create (or update) a BackupLocation and its Secrets from --repo and the repository password
    Create(CreateArgs),
    /// List the BackupLocations of a namespace
    List {
        #[arg(long, short = 'n')]
        namespace: Option<String>,
    },
    /// Show one BackupLocation: repository, access, status and conditions
    Describe {
        name: String,
        #[arg(long, short = 'n')]
        namespace: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Name of the BackupLocation
    pub name: String,
    /// Namespace (default: the kubeconfig's); Backups and Restores using it live here
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// The namespace's default location (Backups naming none use it)
    #[arg(long)]
    pub default: bool,
    /// For restores only (disaster recovery): never written or deleted
    #[arg(long)]
    pub read_only: bool,
    /// Also store the object-store settings of this environment (AWS_*, GOOGLE_*, AZURE_*) in a credentials Secret
    #[arg(long)]
    pub credentials_from_env: bool,
    /// Backups and restores at once against this location
    #[arg(long)]
    pub max_concurrent: Option<u32>,
    /// How often the repository's catalog is read into Backup objects (e.g. 30s, 5m)
    #[arg(long)]
    pub sync_period: Option<String>,
}

pub fn run(ctx: &Context, kube: &KubeOpts, cmd: LocationCommand) -> Result<i32> {
    let rt = kube_opts::runtime()?;
    rt.block_on(async {
        let (api, _) = kube_opts::connect(kube).await?;
        let client = api.client().clone();
        match cmd {
            LocationCommand::Create(args) => create(ctx, client, &args).await,
            LocationCommand::List { namespace } => list(ctx, client, namespace).await,
            LocationCommand::Describe { name, namespace } => describe(ctx, client, &name, namespace).await,
        }
    })
}

/// A local repository as an absolute path (the server may run elsewhere).
fn repository_url(url: &str) -> Result<String> {
    match RepoUrl::parse(url)? {
        RepoUrl::Local { path } => {
            let abs = std::fs::canonicalize(&path)
                .with_context(|| format!("the repository directory {} (run `arca repo init` first)", path.display()))?;
            Ok(abs.display().to_string())
        }
        _ => Ok(url.to_string()),
    }
}

/// The object-store settings of the environment (names with a known prefix).
fn credentials_from(env: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    env.into_iter().filter(|(k, _)| CREDENTIAL_PREFIXES.iter().any(|p| k.starts_with(p))).collect()
}

fn secret(name: &str, ns: &str, data: BTreeMap<String, Vec<u8>>) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(ns.to_string()),
            labels: Some([("app.kubernetes.io/managed-by".to_string(), "arca".to_string())].into()),
            ..Default::default()
        },
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

#[derive(Serialize)]
struct Created {
    namespace: String,
    name: String,
    repository: String,
    password_secret: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    credentials_secret: Option<String>,
    /// Names of the settings stored (never their values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    credential_keys: Vec<String>,
    access_mode: AccessMode,
    default: bool,
}

impl Render for Created {
    fn human(&self) -> String {
        let mut s = format!(
            "backup location {}/{} ({:?}{}): {}\n  password in Secret {}",
            self.namespace,
            self.name,
            self.access_mode,
            if self.default { ", default" } else { "" },
            self.repository,
            self.password_secret
        );
        if let Some(c) = &self.credentials_secret {
            s.push_str(&format!("\n  credentials in Secret {c}: {}", self.credential_keys.join(", ")));
        }
        s
    }
}

async fn create(ctx: &Context, client: kube::Client, args: &CreateArgs) -> Result<i32> {
    let ns = args.namespace.clone().unwrap_or_else(|| client.default_namespace().to_string());
    let url = repository_url(ctx.repo_url()?)?;
    let password = ctx.password()?;
    // A wrong password or a missing repository is found now, not by the server later.
    {
        let (url, password) = (url.clone(), password.clone());
        tokio::task::spawn_blocking(move || {
            arca_repo::Repository::open(arca_repo::open_backend(&url, false)?, &password)
        })
        .await??;
    }
    let credentials = if args.credentials_from_env { credentials_from(std::env::vars()) } else { BTreeMap::new() };
    if args.credentials_from_env && credentials.is_empty() {
        bail!("--credentials-from-env: no AWS_*, GOOGLE_* or AZURE_* variable is set");
    }
    let pp = PatchParams::apply(MANAGER).force();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let password_secret = format!("{}-password", args.name);
    let s = secret(&password_secret, &ns, [("password".to_string(), password)].into());
    secrets
        .patch(&password_secret, &pp, &Patch::Apply(&s))
        .await
        .with_context(|| format!("Secret {ns}/{password_secret}"))?;
    let credentials_secret = if credentials.is_empty() {
        None
    } else {
        let name = format!("{}-credentials", args.name);
        let data = credentials.iter().map(|(k, v)| (k.clone(), v.as_bytes().to_vec())).collect();
        secrets
            .patch(&name, &pp, &Patch::Apply(&secret(&name, &ns, data)))
            .await
            .with_context(|| format!("Secret {ns}/{name}"))?;
        Some(name)
    };
    let access_mode = if args.read_only { AccessMode::ReadOnly } else { AccessMode::ReadWrite };
    let spec = BackupLocationSpec {
        repository: url.clone(),
        password_secret: SecretKeyRef { name: password_secret.clone(), key: "password".into() },
        credentials_secret: credentials_secret.clone(),
        default: args.default,
        access_mode,
        sync_period: args.sync_period.clone(),
        max_concurrent: args.max_concurrent,
        maintenance: None,
    };
    let mut location = BackupLocation::new(&args.name, spec);
    location.metadata.namespace = Some(ns.clone());
    let api: Api<BackupLocation> = Api::namespaced(client, &ns);
    api.patch(&args.name, &pp, &Patch::Apply(&location))
        .await
        .with_context(|| format!("BackupLocation {ns}/{} (are Arca's CRDs installed? `arca install`)", args.name))?;
    let out = Created {
        namespace: ns,
        name: args.name.clone(),
        repository: url,
        password_secret,
        credentials_secret,
        credential_keys: credentials.keys().cloned().collect(),
        access_mode,
        default: args.default,
    };
    emit(ctx.output(), &out)?;
    Ok(exit::OK)
}

#[derive(Serialize)]
#[serde(transparent)]
struct Listed(Vec<BackupLocation>);

impl Render for Listed {
    fn human(&self) -> String {
        if self.0.is_empty() {
            return "no backup locations".into();
        }
        table(
            &["name", "phase", "access", "default", "backups", "repository"],
            self.0.iter().map(|l| {
                let st = l.status.clone().unwrap_or_default();
                vec![
                    l.name_any(),
                    st.phase.unwrap_or_else(|| "-".into()),
                    format!("{:?}", l.spec.access_mode),
                    l.spec.default.to_string(),
                    st.backups.map(|b| b.to_string()).unwrap_or_else(|| "-".into()),
                    l.spec.repository.clone(),
                ]
            }),
        )
    }
}

async fn list(ctx: &Context, client: kube::Client, namespace: Option<String>) -> Result<i32> {
    let ns = namespace.unwrap_or_else(|| client.default_namespace().to_string());
    let api: Api<BackupLocation> = Api::namespaced(client, &ns);
    let all = api.list(&Default::default()).await.with_context(|| format!("listing BackupLocations in {ns}"))?;
    emit(ctx.output(), &Listed(all.items))?;
    Ok(exit::OK)
}

#[derive(Serialize)]
#[serde(transparent)]
struct Described(BackupLocation);

impl Render for Described {
    fn human(&self) -> String {
        let l = &self.0;
        let st = l.status.clone().unwrap_or_default();
        let mut s = format!(
            "backup location {}/{}\n  repository {}\n  access {:?}{}\n  password Secret {} (key {})",
            l.namespace().unwrap_or_default(),
            l.name_any(),
            l.spec.repository,
            l.spec.access_mode,
            if l.spec.default { ", default" } else { "" },
            l.spec.password_secret.name,
            l.spec.password_secret.key
        );
        if let Some(c) = &l.spec.credentials_secret {
            s.push_str(&format!("\n  credentials Secret {c}"));
        }
        if let Some(p) = &st.phase {
            s.push_str(&format!(
                "\n  phase {p}{}",
                if st.message.is_empty() { String::new() } else { format!(": {}", st.message) }
            ));
        }
        for c in &st.conditions {
            s.push_str(&format!("\n  {} {} {}: {}", c.type_, c.status, c.reason, c.message));
        }
        s
    }
}

async fn describe(ctx: &Context, client: kube::Client, name: &str, namespace: Option<String>) -> Result<i32> {
    let ns = namespace.unwrap_or_else(|| client.default_namespace().to_string());
    let api: Api<BackupLocation> = Api::namespaced(client, &ns);
    let l = api.get_opt(name).await?.ok_or_else(|| anyhow::anyhow!("backup location {ns}/{name} not found"))?;
    emit(ctx.output(), &Described(l))?;
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_object_store_settings_become_credentials() {
        let env =
            [("AWS_ACCESS_KEY_ID", "a"), ("HOME", "/root"), ("AZURE_STORAGE_ACCOUNT", "b"), ("ARCA_PASSWORD", "x")]
                .map(|(k, v)| (k.to_string(), v.to_string()));
        let got: Vec<String> = credentials_from(env).into_keys().collect();
        assert_eq!(got, vec!["AWS_ACCESS_KEY_ID", "AZURE_STORAGE_ACCOUNT"]);
    }
}
