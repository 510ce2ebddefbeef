//! Compiled components on disk: wasmtime's serialized form, named by the SHA-256 of the component
//! bytes and a fingerprint of the engine's configuration, and sealed with the SHA-256 of the
//! serialized bytes so that a torn or corrupted file is recompiled rather than loaded.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The SHA-256 of a component's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ComponentDigest(pub [u8; 32]);

impl ComponentDigest {
    pub fn of(bytes: &[u8]) -> ComponentDigest {
        ComponentDigest(Sha256::digest(bytes).into())
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl std::fmt::Display for ComponentDigest {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.to_hex())
    }
}

const SEAL_BYTES: usize = 32;

/// The cache directory and the engine fingerprint its file names carry.
pub(crate) struct DiskCache {
    dir: PathBuf,
    engine_fingerprint: String,
}

impl DiskCache {
    pub(crate) fn new(dir: PathBuf, engine_fingerprint: String) -> std::io::Result<DiskCache> {
        std::fs::create_dir_all(&dir)?;
        Ok(DiskCache {
            dir,
            engine_fingerprint,
        })
    }

    pub(crate) fn path(&self, digest: &ComponentDigest) -> PathBuf {
        self.dir.join(format!(
            "{}-{}.cwasm",
            digest.to_hex(),
            self.engine_fingerprint
        ))
    }

    /// The serialized bytes, if a sound file is there. A file whose seal does not match is
    /// removed.
    pub(crate) fn read(&self, digest: &ComponentDigest) -> Option<Vec<u8>> {
        let path = self.path(digest);
        let mut bytes = std::fs::read(&path).ok()?;
        if bytes.len() < SEAL_BYTES {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        let seal = bytes.split_off(bytes.len() - SEAL_BYTES);
        if Sha256::digest(&bytes).as_slice() != seal.as_slice() {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some(bytes)
    }

    /// Writes atomically: a reader sees the whole file or none.
    pub(crate) fn write(&self, digest: &ComponentDigest, serialized: &[u8]) -> std::io::Result<()> {
        let path = self.path(digest);
        let temporary = temporary_path(&path);
        let mut sealed = Vec::with_capacity(serialized.len() + SEAL_BYTES);
        sealed.extend_from_slice(serialized);
        sealed.extend_from_slice(&Sha256::digest(serialized));
        std::fs::write(&temporary, &sealed)?;
        std::fs::rename(&temporary, &path)
    }
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", uuid::Uuid::now_v7()));
    path.with_file_name(name)
}
