//! `arca export --secrets redact|include|sops-age` through the binary: a
//! namespace with Secrets (values in `data`, in `stringData`, and in the
//! last-applied annotation kubectl leaves) is backed up and exported each way.
//! Redacted: no value anywhere in the directory, plain or base64, keys kept,
//! the Secret annotated. Included: the values are there, and stderr warns.
//! SOPS for age recipients (flags, then the `SOPS_AGE_RECIPIENTS` variable):
//! no value in the directory, and decrypting a file with either identity
//! gives back exactly what `--secrets include` wrote. Decryption here is a
//! SOPS reader of its own (the data key from the `age` stanza, every
//! `ENC[AES256_GCM,…]` value under `encrypted_regex`, the MAC recomputed
//! over all values and compared); when a `sops` binary is on PATH, `sops -d`
//! must give the same. Without recipients the error names the flag and the
//! variable.

mod kube_env;

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::iter;
use std::path::Path;
use std::process::Output;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::aes::cipher::consts::U32;
use age::secrecy::ExposeSecret;
use anyhow::{Context as _, anyhow, bail};
use arca_kube::api::Kube;
use arca_testcluster::TestCluster;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use serde_yaml::Value as Yaml;
use sha2::{Digest, Sha512};

use kube_env::Env;

const NS: &str = "gitops";

/// 32 random letters and digits.
fn token() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let state = RandomState::new();
    (0..32u64)
        .map(|i| {
            let mut h = state.build_hasher();
            h.write_u64(i);
            ALPHABET[(h.finish() % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

fn b64(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Each value, plain and base64-encoded from each of its first three bytes
/// on (what any base64 text holding it contains, wherever it starts).
fn needles(values: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, v) in values {
        out.push((name.to_string(), v.to_string()));
        let b = v.as_bytes();
        for i in 0..3 {
            let rest = &b[i..];
            out.push((format!("base64({name})"), b64(&rest[..rest.len() / 3 * 3])));
        }
    }
    out
}

fn files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files(&path, out)?;
        } else {
            out.push((path.display().to_string(), std::fs::read(&path)?));
        }
    }
    Ok(())
}

/// What of `needles` occurs anywhere under `dir`, and where.
fn found_in(dir: &Path, needles: &[(String, String)]) -> anyhow::Result<Vec<String>> {
    let mut all = Vec::new();
    files(dir, &mut all)?;
    anyhow::ensure!(!all.is_empty(), "nothing was written under {}", dir.display());
    let mut found = Vec::new();
    for (file, bytes) in &all {
        for (what, n) in needles {
            if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                found.push(format!("{what} in {file}"));
            }
        }
    }
    Ok(found)
}

/// Runs `arca ARGS` with extra environment (and without `SOPS_AGE_RECIPIENTS`
/// unless given).
async fn arca(env: &Env, cluster: &TestCluster, args: &[&str], vars: &[(&str, &str)]) -> anyhow::Result<Output> {
    let (repo, kubeconfig) = (env.repo().to_path_buf(), cluster.kubeconfig_path().to_path_buf());
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Ok(tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_arca"))
            .args(&args)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .env("ARCA_REPO", &repo)
            .env("ARCA_PASSWORD", "pw")
            .env_remove("ARCA_PASSWORD_FILE")
            .env_remove("SOPS_AGE_RECIPIENTS")
            .envs(vars)
            .output()
    })
    .await??)
}

fn expect_code(out: &Output, code: i32, what: &str) -> (String, String) {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "{what}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    (stdout, stderr)
}

/// A file of an export, parsed.
fn exported(dir: &Path, kind: &str, name: &str) -> anyhow::Result<Value> {
    let path = dir.join(NS).join(kind).join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_yaml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

// ---- A SOPS reader, written from the format (not from the export's code) ----

type SopsGcm = aes_gcm::AesGcm<Aes256, U32>;

/// `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` opened with `key`; the plain
/// bytes and the type.
fn open_value(text: &str, key: &[u8], aad: &str) -> anyhow::Result<(Vec<u8>, String)> {
    let inner = text
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| anyhow!("not a SOPS value: {text}"))?;
    let mut parts = std::collections::HashMap::new();
    for part in inner.split(',') {
        let (k, v) = part.split_once(':').ok_or_else(|| anyhow!("bad part {part:?} in {text}"))?;
        parts.insert(k, v);
    }
    let get = |k: &str| parts.get(k).copied().ok_or_else(|| anyhow!("no {k} in {text}"));
    let (data, iv, tag) = (STANDARD.decode(get("data")?)?, STANDARD.decode(get("iv")?)?, STANDARD.decode(get("tag")?)?);
    anyhow::ensure!(iv.len() == 32 && tag.len() == 16, "SOPS uses a 32-byte IV and a 16-byte tag: {text}");
    let cipher = SopsGcm::new_from_slice(key).map_err(|_| anyhow!("the data key is not 32 bytes"))?;
    let sealed = [data, tag].concat();
    let plain = cipher
        .decrypt(iv.as_slice().into(), Payload { msg: &sealed, aad: aad.as_bytes() })
        .map_err(|_| anyhow!("AES-GCM refused {text} with additional data {aad:?}"))?;
    Ok((plain, get("type")?.to_string()))
}

/// Decrypts the tree in place, feeding `mac` with every value SOPS would.
fn open_tree(
    node: &mut Yaml,
    path: &mut Vec<String>,
    rule: &regex::Regex,
    key: &[u8],
    mac: &mut Sha512,
) -> anyhow::Result<()> {
    match node {
        Yaml::Mapping(map) => {
            for (k, v) in map.iter_mut() {
                let k = k.as_str().ok_or_else(|| anyhow!("a non-string key at {path:?}"))?;
                path.push(k.to_string());
                open_tree(v, path, rule, key, mac)?;
                path.pop();
            }
        }
        Yaml::Sequence(items) => {
            for v in items {
                open_tree(v, path, rule, key, mac)?;
            }
        }
        Yaml::Null => {}
        leaf => {
            let encrypted = path.iter().any(|p| rule.is_match(p));
            let text = match leaf.as_str() {
                Some(s) if encrypted && !s.is_empty() => {
                    let (plain, kind) = open_value(s, key, &format!("{}:", path.join(":")))?;
                    *leaf = match kind.as_str() {
                        "str" => Yaml::String(String::from_utf8(plain.clone())?),
                        "int" => Yaml::Number(String::from_utf8(plain.clone())?.parse::<i64>()?.into()),
                        "bool" => Yaml::Bool(plain == b"True"),
                        other => bail!("type {other} at {path:?}"),
                    };
                    plain
                }
                Some(s) => s.as_bytes().to_vec(),
                None => match leaf {
                    Yaml::Bool(b) => if *b { "True" } else { "False" }.as_bytes().to_vec(),
                    Yaml::Number(n) => n.to_string().into_bytes(),
                    other => bail!("unexpected {other:?} at {path:?}"),
                },
            };
            mac.update(&text);
        }
    }
    Ok(())
}

/// A SOPS YAML file decrypted with `identity`, its MAC checked; the object
/// without the `sops` block.
fn sops_decrypt(text: &str, identity: &age::x25519::Identity) -> anyhow::Result<Value> {
    let mut doc: Yaml = serde_yaml::from_str(text)?;
    let map = doc.as_mapping_mut().ok_or_else(|| anyhow!("not a mapping"))?;
    let meta = map.remove("sops").ok_or_else(|| anyhow!("no sops block"))?;
    let me = identity.to_public().to_string();
    let stanza = meta["age"]
        .as_sequence()
        .and_then(|s| s.iter().find(|a| a["recipient"].as_str() == Some(me.as_str())))
        .ok_or_else(|| anyhow!("no age entry for {me}"))?;
    let armored = stanza["enc"].as_str().ok_or_else(|| anyhow!("no enc"))?;
    let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(armored.as_bytes()))?;
    let mut key = Vec::new();
    std::io::Read::read_to_end(&mut decryptor.decrypt(iter::once(identity as &dyn age::Identity))?, &mut key)?;
    anyhow::ensure!(key.len() == 32, "the data key has {} bytes", key.len());
    let rule = regex::Regex::new(meta["encrypted_regex"].as_str().ok_or_else(|| anyhow!("no encrypted_regex"))?)?;
    let mut mac = Sha512::new();
    open_tree(&mut doc, &mut Vec::new(), &rule, &key, &mut mac)?;
    let computed: String = mac.finalize().iter().map(|b| format!("{b:02X}")).collect();
    let lastmodified = meta["lastmodified"].as_str().ok_or_else(|| anyhow!("no lastmodified"))?;
    chrono::DateTime::parse_from_rfc3339(lastmodified)?;
    let (stored, _) = open_value(meta["mac"].as_str().ok_or_else(|| anyhow!("no mac"))?, &key, lastmodified)?;
    anyhow::ensure!(stored == computed.as_bytes(), "MAC mismatch: stored {stored:?}, computed {computed}");
    Ok(serde_json::to_value(&doc)?)
}

/// `sops -d FILE` when a `sops` binary is on PATH; `None` when there is none.
fn real_sops_decrypt(file: &Path, identity: &age::x25519::Identity) -> anyhow::Result<Option<Value>> {
    let out = std::process::Command::new("sops")
        .args(["--decrypt", "--input-type", "yaml", "--output-type", "json"])
        .arg(file)
        .env("SOPS_AGE_KEY", identity.to_string().expose_secret())
        .env_remove("SOPS_AGE_KEY_FILE")
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    anyhow::ensure!(out.status.success(), "sops -d {} failed: {stderr}", file.display());
    Ok(Some(serde_json::from_slice(&out.stdout)?))
}

/// The include export's object as a SOPS export holds it (no last-applied copy).
fn without_last_applied(mut obj: Value) -> Value {
    if let Some(a) = obj.pointer_mut("/metadata/annotations").and_then(Value::as_object_mut) {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
        if a.is_empty() {
            obj["metadata"].as_object_mut().map(|m| m.remove("annotations"));
        }
    }
    obj
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_exported_redacted_in_clear_and_sops_encrypted_for_age() -> anyhow::Result<()> {
    arca_testcluster::install_crypto_provider();
    let cluster = TestCluster::start().await?;
    let options =
        arca_kube::connect::ClusterOptions { kubeconfig: Some(cluster.kubeconfig_path().to_path_buf()), context: None };
    let kube = Kube::new(arca_kube::connect::connect(&options).await?.client, 8);
    let dir = tempfile::tempdir()?;
    let env = Env::new(dir.path())?;

    let (password, api_token) = (token(), token());
    let visible = token();
    let values = [("db password (data)", password.as_str()), ("api token (stringData)", api_token.as_str())];
    let needles = needles(&values);

    kube.create(
        "/api/v1/namespaces",
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
        "ns",
    )
    .await?;
    let db = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": NS},
        "type": "Opaque", "data": {"username": b64(b"app"), "password": b64(password.as_bytes()), "empty": ""}});
    let api = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "api", "namespace": NS},
        "type": "Opaque", "stringData": {"token": api_token}});
    for mut secret in [db, api] {
        // As `kubectl apply` leaves it: the values once more, in an annotation.
        secret["metadata"]["annotations"] =
            json!({"kubectl.kubernetes.io/last-applied-configuration": secret.to_string(), "team": "shop"});
        secret["metadata"]["labels"] = json!({"app": "web", "tier": "1"});
        kube.create(&format!("/api/v1/namespaces/{NS}/secrets"), &secret, "secret").await?;
    }
    let settings = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": NS},
        "data": {"marker": visible}});
    kube.create(&format!("/api/v1/namespaces/{NS}/configmaps"), &settings, "configmap").await?;
    env.expect(&cluster, 0, &["backup", "create", "b1", "--include-namespaces", NS, "--wait", "--volumes", "none"])
        .await?;

    // Redacted, the default: keys kept, no value, a note on how to get them.
    let redacted = dir.path().join("redacted");
    let out =
        arca(&env, &cluster, &["export", "b1", "--to", &redacted.display().to_string(), "-o", "json"], &[]).await?;
    let (stdout, stderr) = expect_code(&out, 0, "export (redacted)");
    let summary: Value = serde_json::from_str(&stdout)?;
    assert_eq!(
        (summary["secrets"].as_str(), summary["secrets_redacted"].as_u64()),
        (Some("redact"), Some(2)),
        "{stdout}"
    );
    assert!(!stderr.contains("warning"), "{stderr}");
    let leaks = found_in(&redacted, &needles)?;
    assert!(leaks.is_empty(), "redacted export shows values:\n{}", leaks.join("\n"));
    let db_redacted = exported(&redacted, "secret", "db")?;
    let shape = db_redacted["data"].as_object().map(|d| d.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    assert_eq!(shape, ["empty", "password", "username"], "{db_redacted}");
    assert!(db_redacted["data"]["password"].as_str().is_some_and(|v| v.starts_with("<redacted")), "{db_redacted}");
    let note = db_redacted["metadata"]["annotations"]["arca.io/redacted"].as_str().unwrap_or_default();
    assert!(note.contains("--secrets include") && note.contains("--secrets sops-age"), "{db_redacted}");
    assert_eq!(exported(&redacted, "configmap", "settings")?["data"]["marker"], visible.as_str());

    // In clear when asked, with a warning.
    let clear = dir.path().join("clear");
    let out =
        arca(&env, &cluster, &["export", "b1", "--to", &clear.display().to_string(), "--secrets", "include"], &[])
            .await?;
    let (stdout, stderr) = expect_code(&out, 0, "export (include)");
    assert!(stdout.contains("2 secret(s) with values in clear"), "{stdout}");
    assert!(stderr.contains("warning") && stderr.contains("in clear") && stderr.contains("2 Secret(s)"), "{stderr}");
    let found = found_in(&clear, &needles)?;
    for (what, _) in values {
        assert!(found.iter().any(|f| f.contains(what)), "--secrets include exports {what}: found only {found:?}");
    }

    // SOPS for two age recipients, named by flags.
    let (alice, bob) = (age::x25519::Identity::generate(), age::x25519::Identity::generate());
    let (alice_pub, bob_pub) = (alice.to_public().to_string(), bob.to_public().to_string());
    let sops_dir = dir.path().join("sops");
    let to = sops_dir.display().to_string();
    let args = ["export", "b1", "--to", &to, "--secrets", "sops-age", "--age-recipient", &alice_pub];
    let out = arca(&env, &cluster, &[&args[..], &["--age-recipient", &bob_pub, "-o", "json"]].concat(), &[]).await?;
    let (stdout, stderr) = expect_code(&out, 0, "export (sops-age)");
    assert!(!stderr.contains("warning"), "{stderr}");
    let summary: Value = serde_json::from_str(&stdout)?;
    assert_eq!(summary["secrets_encrypted"], 2, "{stdout}");
    assert_eq!(summary["age_recipients"], json!([alice_pub, bob_pub]), "{stdout}");
    let leaks = found_in(&sops_dir, &needles)?;
    assert!(leaks.is_empty(), "SOPS export shows values:\n{}", leaks.join("\n"));
    assert_eq!(exported(&sops_dir, "configmap", "settings")?, exported(&clear, "configmap", "settings")?);

    // ... and through the variable sops reads, comma-separated.
    let env_dir = dir.path().join("sops-env");
    let both = format!("{alice_pub},{bob_pub}");
    let out = arca(
        &env,
        &cluster,
        &["export", "b1", "--to", &env_dir.display().to_string(), "--secrets", "sops-age"],
        &[("SOPS_AGE_RECIPIENTS", &both)],
    )
    .await?;
    let (stdout, _) = expect_code(&out, 0, "export (sops-age, recipients from the environment)");
    assert!(stdout.contains("2 secret(s) SOPS-encrypted for 2 age recipient(s)"), "{stdout}");
    assert!(found_in(&env_dir, &needles)?.is_empty());

    let mut real_sops = 0;
    for name in ["db", "api"] {
        let want = without_last_applied(exported(&clear, "secret", name)?);
        for (folder, identity) in [(&sops_dir, &alice), (&sops_dir, &bob), (&env_dir, &bob)] {
            let file = folder.join(NS).join("secret").join(format!("{name}.yaml"));
            let text = std::fs::read_to_string(&file)?;
            let encrypted: Value = serde_yaml::from_str(&text)?;
            assert_eq!(encrypted["sops"]["encrypted_regex"], "^(data|stringData)$", "{text}");
            assert_eq!(encrypted["metadata"]["labels"], json!({"app": "web", "tier": "1"}), "metadata stays readable");
            assert_eq!(encrypted["metadata"]["annotations"], json!({"team": "shop"}), "no last-applied copy: {text}");
            let decrypted = sops_decrypt(&text, identity).with_context(|| format!("decrypting {}", file.display()))?;
            assert_eq!(decrypted, want, "{} decrypted", file.display());
            if let Some(by_sops) = real_sops_decrypt(&file, identity)? {
                assert_eq!(by_sops, want, "sops -d {}", file.display());
                real_sops += 1;
            }
        }
    }
    let db = without_last_applied(exported(&clear, "secret", "db")?);
    assert_eq!(db["data"]["password"], b64(password.as_bytes()).as_str(), "the include export holds the value");
    eprintln!(
        "{}",
        match real_sops {
            0 => "no sops binary on PATH: the real sops was not run".to_string(),
            n => format!("sops -d decrypted {n} files"),
        }
    );

    // A file altered by hand fails the MAC.
    let file = sops_dir.join(NS).join("secret").join("db.yaml");
    let text = std::fs::read_to_string(&file)?;
    let tampered = text.replacen("tier: \"1\"", "tier: \"2\"", 1);
    assert_ne!(tampered, text, "{text}");
    let err = sops_decrypt(&tampered, &alice).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("MAC mismatch"), "{err}");
    let altered = dir.path().join("altered.yaml");
    std::fs::write(&altered, &tampered)?;
    if real_sops > 0 {
        let err = real_sops_decrypt(&altered, &alice).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("MAC mismatch"), "sops -d of an altered file: {err}");
    }

    // No recipient, or a wrong one: the error says what to pass.
    let none = dir.path().join("none").display().to_string();
    let out = arca(&env, &cluster, &["export", "b1", "--to", &none, "--secrets", "sops-age"], &[]).await?;
    let (_, stderr) = expect_code(&out, 1, "export (sops-age without recipients)");
    assert!(stderr.contains("--age-recipient") && stderr.contains("SOPS_AGE_RECIPIENTS"), "{stderr}");
    let out = arca(
        &env,
        &cluster,
        &["export", "b1", "--to", &none, "--secrets", "sops-age", "--age-recipient", "age1x"],
        &[],
    )
    .await?;
    let (_, stderr) = expect_code(&out, 1, "export (sops-age, a bad recipient)");
    assert!(stderr.contains("\"age1x\"") && stderr.contains("is not an age"), "{stderr}");
    assert!(!dir.path().join("none").exists(), "nothing written before the recipients are checked");
    Ok(())
}
