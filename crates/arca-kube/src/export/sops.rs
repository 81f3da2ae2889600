//! SOPS files for `export --secrets sops-age`: a Secret whose `data` and
//! `stringData` values are encrypted the way SOPS encrypts them, for age
//! recipients, so that `sops -d FILE` (and Flux or Argo CD with SOPS)
//! decrypt it and the rest of the object stays readable and diffable.
//!
//! The format, as SOPS reads it:
//! - one random 256-bit data key per file; each value under a key matching
//!   `encrypted_regex` (`^(data|stringData)$`, any key on the path) becomes
//!   `ENC[AES256_GCM,data:…,iv:…,tag:…,type:str]`: AES-256-GCM with a
//!   32-byte IV, the path of keys joined by `:` plus a final `:` as
//!   additional data, base64 (standard, padded) parts; empty strings stay
//!   empty;
//! - the MAC: SHA-512 over every leaf value of the document, encrypted or
//!   not, in document order (strings as their bytes, integers in decimal,
//!   booleans as `True`/`False`, nulls skipped), as upper-case hex,
//!   encrypted like a value with `lastmodified` (RFC 3339) as additional
//!   data;
//! - a top-level `sops` block: `age` (per recipient, the data key encrypted
//!   to it with age, ASCII-armored), `lastmodified`, `mac`,
//!   `encrypted_regex`, `version`.
//!
//! The YAML is written here rather than by serde_yaml: SOPS parses it with
//! Go's YAML library, whose idea of an unquoted scalar's type differs in
//! corners (`1_000` is a number there), and the MAC must cover exactly the
//! values SOPS will see. Scalars are written plain only when they cannot be
//! anything but a string to either parser, else double-quoted.

use std::fmt::Write as _;

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::aes::cipher::consts::U32;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use sha2::{Digest, Sha512};

/// What SOPS calls the rule for which values it encrypts.
pub const ENCRYPTED_REGEX: &str = "^(data|stringData)$";
/// The keys [`ENCRYPTED_REGEX`] matches.
const ENCRYPTED_KEYS: &[&str] = &["data", "stringData"];
/// The SOPS file format version written (no newer feature is used).
pub const SOPS_VERSION: &str = "3.8.1";
/// Where SOPS (and `arca export`) read age recipients from, comma-separated.
pub const RECIPIENTS_ENV: &str = "SOPS_AGE_RECIPIENTS";

/// AES-256-GCM with SOPS' 32-byte IV.
type Gcm = aes_gcm::AesGcm<Aes256, U32>;

#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    #[error(
        "--secrets sops-age needs at least one age recipient: pass --age-recipient age1… (repeatable) or set {RECIPIENTS_ENV} (comma-separated), as for sops"
    )]
    NoRecipients,
    #[error(
        "{recipient:?} is not an age X25519 recipient ({reason}); pass a public key as `age-keygen -y KEYFILE` prints it (age1…)"
    )]
    BadRecipient { recipient: String, reason: String },
    #[error("encrypting the data key for age recipient {recipient}: {message}")]
    Age { recipient: String, message: String },
    #[error("cannot draw random bytes for the SOPS data key or an IV: {0}")]
    Random(String),
    #[error("AES-GCM refused to encrypt the value at {path}")]
    Cipher { path: String },
    #[error("the value at {path} is a number SOPS cannot hold ({value}); export it with --secrets redact or include")]
    Number { path: String, value: String },
}

/// The age recipients a SOPS file is encrypted for.
#[derive(Clone)]
pub struct Recipients(Vec<age::x25519::Recipient>);

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Recipients {
    /// Parses `age1…` public keys; each entry may hold several, comma-separated
    /// (as `SOPS_AGE_RECIPIENTS` does); blanks are ignored. None at all is an error.
    pub fn parse<S: AsRef<str>>(list: &[S]) -> Result<Self, SopsError> {
        let mut out: Vec<age::x25519::Recipient> = Vec::new();
        for entry in list {
            for text in entry.as_ref().split(',').map(str::trim).filter(|t| !t.is_empty()) {
                let recipient = text.parse::<age::x25519::Recipient>().map_err(|reason| SopsError::BadRecipient {
                    recipient: text.to_string(),
                    reason: reason.to_string(),
                })?;
                if !out.contains(&recipient) {
                    out.push(recipient);
                }
            }
        }
        if out.is_empty() {
            return Err(SopsError::NoRecipients);
        }
        Ok(Recipients(out))
    }

    /// The recipients as `age1…` strings.
    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// One file's data key and the running MAC.
struct Sealer {
    key: [u8; 32],
    mac: Sha512,
}

impl Sealer {
    /// `ENC[AES256_GCM,…]` of `plain` with `aad` as additional data.
    fn seal(&self, plain: &[u8], kind: &str, aad: &str) -> Result<String, SopsError> {
        let mut iv = [0u8; 32];
        OsRng.try_fill_bytes(&mut iv).map_err(|e| SopsError::Random(e.to_string()))?;
        let cipher = Gcm::new((&self.key).into());
        let sealed = cipher
            .encrypt((&iv).into(), Payload { msg: plain, aad: aad.as_bytes() })
            .map_err(|_| SopsError::Cipher { path: aad.trim_end_matches(':').to_string() })?;
        let (data, tag) = sealed.split_at(sealed.len().saturating_sub(16));
        Ok(format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
            STANDARD.encode(data),
            STANDARD.encode(iv),
            STANDARD.encode(tag)
        ))
    }

    /// Walks `v` (at `path`), feeding the MAC with every leaf and returning
    /// the value with leaves under an encrypted key sealed.
    fn walk(&mut self, v: &Value, path: &mut Vec<String>, encrypt: bool) -> Result<Value, SopsError> {
        match v {
            Value::Object(map) => {
                let mut out = Map::new();
                for (k, x) in map {
                    path.push(k.clone());
                    let sealed = self.walk(x, path, encrypt || ENCRYPTED_KEYS.contains(&k.as_str()))?;
                    path.pop();
                    out.insert(k.clone(), sealed);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => {
                // SOPS gives list items their list's path.
                items.iter().map(|x| self.walk(x, path, encrypt)).collect::<Result<_, _>>().map(Value::Array)
            }
            Value::Null => Ok(Value::Null),
            leaf => {
                let (bytes, kind) = leaf_bytes(leaf, path)?;
                self.mac.update(&bytes);
                if !encrypt || (bytes.is_empty() && kind == "str") {
                    return Ok(leaf.clone());
                }
                let aad = format!("{}:", path.join(":"));
                Ok(Value::String(self.seal(&bytes, kind, &aad)?))
            }
        }
    }
}

/// A leaf as SOPS turns it into bytes, and its SOPS type name.
fn leaf_bytes(v: &Value, path: &[String]) -> Result<(Vec<u8>, &'static str), SopsError> {
    match v {
        Value::String(s) => Ok((s.as_bytes().to_vec(), "str")),
        Value::Bool(b) => Ok((if *b { "True" } else { "False" }.as_bytes().to_vec(), "bool")),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok((i.to_string().into_bytes(), "int"))
            } else if n.is_u64() {
                Err(SopsError::Number { path: path.join("."), value: n.to_string() })
            } else {
                // Shortest round-trip digits, never an exponent: Go's FormatFloat(f, 'f', -1, 64).
                let f = n.as_f64().unwrap_or_default();
                Ok((format!("{f}").into_bytes(), "float"))
            }
        }
        _ => Ok((Vec::new(), "str")),
    }
}

/// `obj` as a SOPS-encrypted YAML document for `recipients`, stamped `now`.
pub fn encrypt(obj: &Value, recipients: &Recipients, now: DateTime<Utc>) -> Result<String, SopsError> {
    let mut key = [0u8; 32];
    OsRng.try_fill_bytes(&mut key).map_err(|e| SopsError::Random(e.to_string()))?;
    let mut sealer = Sealer { key, mac: Sha512::new() };
    let sealed = sealer.walk(obj, &mut Vec::new(), false)?;
    let digest = std::mem::take(&mut sealer.mac).finalize();
    let mac_hex = digest.iter().fold(String::with_capacity(128), |mut s, b| {
        let _ = write!(s, "{b:02X}");
        s
    });
    let lastmodified = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
    let mac = sealer.seal(mac_hex.as_bytes(), "str", &lastmodified)?;

    let mut out = String::new();
    match &sealed {
        Value::Object(map) if !map.is_empty() => block(&mut out, &sealed, 0),
        _ => {}
    }
    out.push_str("sops:\n  age:\n");
    for recipient in &recipients.0 {
        let enc = age::encrypt_and_armor(recipient, &sealer.key)
            .map_err(|e| SopsError::Age { recipient: recipient.to_string(), message: e.to_string() })?;
        let _ = writeln!(out, "  - recipient: {recipient}");
        out.push_str(if enc.ends_with('\n') { "    enc: |\n" } else { "    enc: |-\n" });
        for line in enc.lines() {
            let _ = writeln!(out, "      {line}");
        }
    }
    let _ = writeln!(out, "  lastmodified: {}", scalar(&Value::String(lastmodified)));
    let _ = writeln!(out, "  mac: {}", scalar(&Value::String(mac)));
    let _ = writeln!(out, "  encrypted_regex: {}", scalar(&Value::String(ENCRYPTED_REGEX.into())));
    let _ = writeln!(out, "  version: {}", scalar(&Value::String(SOPS_VERSION.into())));
    sealer.key.fill(0);
    Ok(out)
}

/// Whether a string may stay unquoted: it starts with a letter, holds only
/// letters, digits and `._/-`, and is no word a YAML parser (1.1 or 1.2)
/// reads as a boolean or null.
fn plain(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n"
        )
}

/// A scalar (or an empty collection) on one line.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) if plain(s) => s.clone(),
        // A JSON string is a valid YAML double-quoted scalar.
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

fn key(k: &str) -> String {
    scalar(&Value::String(k.to_string()))
}

fn is_block(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

/// A non-empty mapping or sequence as block YAML, every line indented by `indent`.
fn block(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                let _ = write!(out, "{pad}{}:", key(k));
                match x {
                    Value::Object(_) if is_block(x) => {
                        out.push('\n');
                        block(out, x, indent + 2);
                    }
                    // Sequences sit at their key's indent, as kubectl and serde_yaml write them.
                    Value::Array(_) if is_block(x) => {
                        out.push('\n');
                        block(out, x, indent);
                    }
                    _ => {
                        let _ = writeln!(out, " {}", scalar(x));
                    }
                }
            }
        }
        Value::Array(items) => {
            for x in items {
                if is_block(x) {
                    let mut inner = String::new();
                    block(&mut inner, x, indent + 2);
                    let _ = write!(out, "{pad}- {}", &inner[indent + 2..]);
                } else {
                    let _ = writeln!(out, "{pad}- {}", scalar(x));
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(other));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn recipients_from_flags_and_env_style_lists() -> anyhow::Result<()> {
        let (a, b) = (age::x25519::Identity::generate(), age::x25519::Identity::generate());
        let (a, b) = (a.to_public().to_string(), b.to_public().to_string());
        let r = Recipients::parse(&[format!(" {a} ,{b}"), a.clone(), String::new()])?;
        assert_eq!(r.names(), vec![a, b]);
        let none: [&str; 0] = [];
        let err = Recipients::parse(&none).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("--age-recipient") && err.contains(RECIPIENTS_ENV), "{err}");
        let err = Recipients::parse(&["age1nope"]).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("\"age1nope\"") && err.contains("age-keygen -y"), "{err}");
        Ok(())
    }

    #[test]
    fn scalars_are_plain_only_when_unambiguous() {
        for s in ["v1", "Secret", "tls.crt", "app.kubernetes.io/name", "db-1"] {
            assert!(plain(s), "{s}");
        }
        for s in
            ["", "1", "1_000", "0o17", "yes", "No", "null", "True", ".dockerconfigjson", "a b", "x:y", "ENC[x]", "~"]
        {
            assert!(!plain(s), "{s}");
        }
        assert_eq!(scalar(&json!("a\"b\nc")), "\"a\\\"b\\nc\"");
    }

    #[test]
    fn encrypts_only_data_and_string_data_and_writes_the_sops_block() -> anyhow::Result<()> {
        let r = Recipients::parse(&[age::x25519::Identity::generate().to_public().to_string()])?;
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": "db", "namespace": "shop", "labels": {"app": "web"}},
            "data": {"password": "c2VjcmV0", "empty": ""}, "stringData": {"token": "t0k3n"}});
        let now = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")?.with_timezone(&Utc);
        let text = encrypt(&secret, &r, now)?;
        assert!(!text.contains("c2VjcmV0") && !text.contains("t0k3n"), "{text}");
        let doc: Value = serde_yaml::from_str(&text)?;
        assert_eq!(doc["metadata"]["labels"]["app"], "web");
        assert_eq!(doc["data"]["empty"], "");
        for v in [&doc["data"]["password"], &doc["stringData"]["token"], &doc["sops"]["mac"]] {
            let v = v.as_str().unwrap_or_default();
            assert!(v.starts_with("ENC[AES256_GCM,data:") && v.ends_with(",type:str]"), "{v}");
        }
        assert_eq!(doc["sops"]["lastmodified"], "2026-01-02T03:04:05Z");
        assert_eq!(doc["sops"]["encrypted_regex"], ENCRYPTED_REGEX);
        assert_eq!(doc["sops"]["age"][0]["recipient"], r.names()[0].as_str());
        let enc = doc["sops"]["age"][0]["enc"].as_str().unwrap_or_default();
        assert!(enc.starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n"), "{enc}");
        Ok(())
    }

    #[test]
    fn block_yaml_round_trips() -> anyhow::Result<()> {
        let v = json!({"a": {"b": [1, true, null, {"c": "d", "e": ["f"]}, [], {}], "g": {}}, "h": "x y"});
        let mut out = String::new();
        block(&mut out, &v, 0);
        let back: Value = serde_yaml::from_str(&out)?;
        assert_eq!(back, v, "{out}");
        Ok(())
    }
}
