//! Key files: the master key wrapped with a key derived from a password by
//! Argon2id. Several key files may wrap the same master key.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::crypto::{Cipher, MasterKey};
use crate::error::{Error, Result};

/// Associated data that binds a sealed master key to its purpose.
const KEY_AAD: &[u8] = b"arca key file v1";

/// Argon2id cost parameters, stored in each key file.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// About a quarter of a second on a current core; 64 MiB of memory.
    fn default() -> Self {
        KdfParams { memory_kib: 64 * 1024, iterations: 3, parallelism: 1 }
    }
}

impl KdfParams {
    /// Cheap parameters for tests and throwaway repositories.
    pub fn insecure_fast() -> Self {
        KdfParams { memory_kib: 64, iterations: 1, parallelism: 1 }
    }
}

/// A key file as stored under `keys/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyFile {
    pub created: DateTime<Utc>,
    pub hostname: String,
    pub username: String,
    pub kdf: String,
    pub params: KdfParams,
    /// Base64 salt for Argon2id.
    pub salt: String,
    /// Base64 of the sealed master key.
    pub data: String,
}

impl KeyFile {
    /// Wraps `master` with `password`.
    pub fn wrap(master: &MasterKey, password: &[u8], params: KdfParams) -> Result<Self> {
        let salt: [u8; 16] = rand::random();
        let kek = derive(password, &salt, params)?;
        let plain = serde_json::to_vec(master).map_err(|e| Error::Json { what: "master key".into(), source: e })?;
        let sealed = Cipher::new(&kek).seal(&plain, KEY_AAD);
        Ok(KeyFile {
            created: Utc::now(),
            hostname: crate::host::hostname(),
            username: crate::host::username(),
            kdf: "argon2id".into(),
            params,
            salt: B64.encode(salt),
            data: B64.encode(sealed),
        })
    }

    /// Unwraps the master key; `None` when the password does not fit.
    pub fn unwrap_key(&self, password: &[u8], what: &str) -> Result<Option<MasterKey>> {
        if self.kdf != "argon2id" {
            return Err(Error::corrupt(what, format!("unknown key derivation {:?}", self.kdf)));
        }
        let salt = B64.decode(&self.salt).map_err(|e| Error::corrupt(what, format!("salt: {e}")))?;
        let sealed = B64.decode(&self.data).map_err(|e| Error::corrupt(what, format!("data: {e}")))?;
        let kek = derive(password, &salt, self.params)?;
        match Cipher::new(&kek).open(&sealed, KEY_AAD, what) {
            Ok(plain) => {
                serde_json::from_slice(&plain).map(Some).map_err(|e| Error::Json { what: what.into(), source: e })
            }
            Err(_) => Ok(None),
        }
    }
}

fn derive(password: &[u8], salt: &[u8], p: KdfParams) -> Result<[u8; 32]> {
    let params = argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, Some(32))
        .map_err(|e| Error::Invalid(format!("Argon2 parameters: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    argon.hash_password_into(password, salt, &mut out).map_err(|e| Error::Invalid(format!("Argon2: {e}")))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_unwrap() {
        let master = MasterKey::random();
        let kf = KeyFile::wrap(&master, b"secret", KdfParams::insecure_fast()).unwrap();
        let back = kf.unwrap_key(b"secret", "k").unwrap().unwrap();
        assert_eq!(back.blob_id(b"x"), master.blob_id(b"x"));
        assert!(kf.unwrap_key(b"wrong", "k").unwrap().is_none());
    }
}
