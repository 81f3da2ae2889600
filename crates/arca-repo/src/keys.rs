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

    /// Parameters a key file may ask for: key files are plaintext, so one
    /// planted by someone with storage access must not make every opening
    /// allocate terabytes or spin for hours.
    pub fn check_bounds(&self) -> std::result::Result<(), String> {
        // Arca writes 64 MiB × 3; allow 16 times that work, at most 1 GiB of memory.
        const MAX_MEMORY_KIB: u64 = 1024 * 1024;
        const MAX_WORK_KIB: u64 = 16 * 64 * 1024 * 3;
        const MAX_PARALLELISM: u32 = 64;
        let work = u64::from(self.memory_kib) * u64::from(self.iterations);
        if u64::from(self.memory_kib) > MAX_MEMORY_KIB || work > MAX_WORK_KIB || self.parallelism > MAX_PARALLELISM {
            return Err(format!(
                "Argon2 parameters out of bounds (memory {} KiB, {} iterations, parallelism {}; at most \
                 {MAX_MEMORY_KIB} KiB, memory × iterations {MAX_WORK_KIB} KiB, parallelism {MAX_PARALLELISM}): \
                 not written by Arca",
                self.memory_kib, self.iterations, self.parallelism
            ));
        }
        Ok(())
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
        self.params.check_bounds().map_err(|e| Error::corrupt(what, e))?;
        let kek = derive(password, &salt, self.params).map_err(|e| Error::corrupt(what, e.to_string()))?;
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

    #[test]
    fn hostile_parameters_are_refused_before_any_work() {
        let master = MasterKey::random();
        let mut kf = KeyFile::wrap(&master, b"secret", KdfParams::insecure_fast()).unwrap();
        for params in [
            KdfParams { memory_kib: u32::MAX, iterations: 1, parallelism: 1 },
            KdfParams { memory_kib: 64, iterations: u32::MAX, parallelism: 1 },
            KdfParams { memory_kib: 64, iterations: 1, parallelism: u32::MAX },
        ] {
            kf.params = params;
            let started = std::time::Instant::now();
            let e = kf.unwrap_key(b"secret", "keys/x").unwrap_err().to_string();
            assert!(e.contains("keys/x") && e.contains("out of bounds"), "{e}");
            assert!(started.elapsed() < std::time::Duration::from_secs(1));
        }
        kf.params = KdfParams { memory_kib: 1, iterations: 0, parallelism: 0 };
        assert!(kf.unwrap_key(b"secret", "keys/x").unwrap_err().to_string().contains("keys/x"), "argon2 refuses");
    }
}
