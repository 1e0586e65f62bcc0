//! The lock file of `pin --lock`: which digest each reference resolved to, so that a later
//! `pin --locked` reproduces the same manifests without asking a registry. JSON, keys sorted,
//! written atomically and only when its content changes.
//!
//! ```json
//! {
//!   "version": 1,
//!   "images": {
//!     "ghcr.io/acme/app:v1.4.2": {
//!       "digest": "sha256:…",
//!       "mediaType": "application/vnd.oci.image.index.v1+json",
//!       "platforms": [{"platform": "linux/amd64", "digest": "sha256:…"}]
//!     }
//!   }
//! }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::{Result, ToolError};

/// The lock file format version we write and read.
pub const VERSION: u32 = 1;

/// One resolved reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The digest of what the reference points to (the index for a multi-platform image).
    pub digest: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub media_type: String,
    /// For an index: each platform's manifest digest, in the index's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<Platform>,
}

/// A platform manifest of an index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub platform: String,
    pub digest: String,
}

/// The whole lock file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    pub images: BTreeMap<String, Entry>,
}

impl Lock {
    pub fn new() -> Self {
        Lock {
            version: VERSION,
            images: BTreeMap::new(),
        }
    }

    /// Reads `path`; a missing file is an empty lock unless `must_exist`.
    pub fn read(path: &Path, must_exist: bool) -> Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {
                return Ok(Lock::new())
            }
            Err(e) => return Err(ToolError::Shared(gitops::Error::io(path, e))),
        };
        let lock: Lock = serde_json::from_str(&text).map_err(|e| {
            let (line, column) = position(&text, e.line(), e.column());
            ToolError::Message(format!(
                "{}:{line}:{column}: invalid lock file: {}",
                path.display(),
                strip_position(&e.to_string())
            ))
        })?;
        if lock.version != VERSION {
            return Err(ToolError::Message(format!(
                "{}: lock file version {} is not supported (expected {VERSION})",
                path.display(),
                lock.version
            )));
        }
        for (reference, entry) in &lock.images {
            if !is_digest(&entry.digest) {
                return Err(ToolError::Message(format!(
                    "{}: {reference}: {:?} is not a sha256 digest",
                    path.display(),
                    entry.digest
                )));
            }
        }
        Ok(lock)
    }

    /// The canonical text of the lock.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }

    /// Writes the lock atomically unless the file already has exactly this content.
    /// Returns whether it wrote.
    pub fn write(&self, path: &Path) -> Result<bool> {
        let text = self.to_text();
        if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
            return Ok(false);
        }
        gitops::atomic::write_file(path, text.as_bytes())?;
        Ok(true)
    }
}

/// `sha256:` followed by 64 lowercase hex digits.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// serde_json's position as an editor shows it. serde_json says "column 0" when it stopped
/// right after a newline (a file that ends in the middle of a value); the place it stopped at
/// is then just past the end of the line before (or 1:1 for an empty file).
fn position(text: &str, line: usize, column: usize) -> (usize, usize) {
    if column > 0 {
        return (line, column);
    }
    if line <= 1 {
        return (1, 1);
    }
    let previous = text.lines().nth(line - 2).unwrap_or("");
    (line - 1, previous.chars().count() + 1)
}

fn strip_position(message: &str) -> &str {
    message.find(" at line ").map_or(message, |i| &message[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_no_rewrite_when_unchanged() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("images.lock");
        let mut lock = Lock::new();
        lock.images.insert(
            "r/app:v1".into(),
            Entry {
                digest: format!("sha256:{}", "a".repeat(64)),
                media_type: String::new(),
                platforms: vec![],
            },
        );
        assert!(lock.write(&path).expect("write"));
        assert!(!lock.write(&path).expect("write again"));
        assert_eq!(Lock::read(&path, true).expect("read"), lock);
    }

    #[test]
    fn bad_locks_are_refused_with_position() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("images.lock");
        std::fs::write(
            &path,
            "{\"version\": 1, \"images\": {\"a\": {\"digest\": \"md5:x\"}}}",
        )
        .expect("write");
        let err = Lock::read(&path, true).expect_err("bad digest").to_string();
        assert!(err.contains("is not a sha256 digest"), "{err}");
        std::fs::write(&path, "{\"version\": 1,\n \"images\": [}").expect("write");
        let err = Lock::read(&path, true).expect_err("bad json").to_string();
        assert!(err.contains("images.lock:2:"), "{err}");
        // A file cut short after a newline: serde_json says column 0; we point past the end of
        // the last line.
        std::fs::write(&path, "{\"version\": 1,\n  \"images\": {\n").expect("write");
        let err = Lock::read(&path, true).expect_err("truncated").to_string();
        assert_eq!(
            err,
            format!(
                "{}:2:14: invalid lock file: EOF while parsing an object",
                path.display()
            )
        );
        std::fs::write(&path, "").expect("write");
        let err = Lock::read(&path, true).expect_err("empty").to_string();
        assert!(
            err.contains("images.lock:1:1: invalid lock file: EOF"),
            "{err}"
        );
        assert!(Lock::read(&dir.path().join("missing"), false)
            .expect("empty")
            .images
            .is_empty());
        assert!(Lock::read(&dir.path().join("missing"), true).is_err());
    }
}
