//! One remediation per node at a time, enforced by a lock that outlives the
//! process: a file per node holding the owner's pid, taken with `create_new`, and
//! taken over only when that pid is gone (a crashed remediation).

use std::collections::HashSet;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Where locks live.
#[derive(Clone)]
pub enum Locks {
    /// Lock files in a folder (default `/var/lib/kubestall/locks`).
    Files(PathBuf),
    /// In memory, for simulated clusters (each run its own).
    Memory(Arc<Mutex<HashSet<String>>>),
}

/// A held lock; released when dropped.
pub struct Guard {
    locks: Locks,
    key: String,
}

/// The lock is held by someone else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Held(pub String);

impl Locks {
    /// In-memory locks.
    pub fn memory() -> Self {
        Locks::Memory(Arc::new(Mutex::new(HashSet::new())))
    }

    /// The default folder for lock files, `$KUBESTALL_STATE_DIR/locks` or
    /// `/var/lib/kubestall/locks`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os("KUBESTALL_STATE_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/lib/kubestall"))
            .join("locks")
    }

    /// Takes the lock named `key` (a cluster and node).
    pub fn acquire(&self, key: &str) -> Result<Guard, Held> {
        match self {
            Locks::Memory(set) => {
                let mut s = set.lock().unwrap_or_else(|p| p.into_inner());
                if !s.insert(key.to_string()) {
                    return Err(Held(format!("a remediation of {key} is already running")));
                }
            }
            Locks::Files(dir) => {
                let path = dir.join(format!("{}.lock", sanitize(key)));
                std::fs::create_dir_all(dir)
                    .map_err(|e| Held(format!("cannot create {}: {e}", dir.display())))?;
                for _ in 0..2 {
                    match std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&path)
                    {
                        Ok(mut f) => {
                            let _ = writeln!(f, "{}", std::process::id());
                            return Ok(Guard {
                                locks: self.clone(),
                                key: key.to_string(),
                            });
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                            let owner = std::fs::read_to_string(&path).unwrap_or_default();
                            let pid: Option<u32> = owner.trim().parse().ok();
                            let alive = pid.is_some_and(|p| {
                                std::path::Path::new(&format!("/proc/{p}")).exists()
                            });
                            if alive {
                                return Err(Held(format!(
                                    "a remediation of {key} is already running (pid {}, lock {}); wait for it, or resume its audit log if it died",
                                    pid.unwrap_or(0),
                                    path.display()
                                )));
                            }
                            // Its owner died: the lock is stale.
                            let _ = std::fs::remove_file(&path);
                        }
                        Err(e) => return Err(Held(format!("cannot take {}: {e}", path.display()))),
                    }
                }
                return Err(Held(format!("cannot take {}", path.display())));
            }
        }
        Ok(Guard {
            locks: self.clone(),
            key: key.to_string(),
        })
    }
}

fn sanitize(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Drop for Guard {
    fn drop(&mut self) {
        match &self.locks {
            Locks::Memory(set) => {
                set.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&self.key);
            }
            Locks::Files(dir) => {
                let _ = std::fs::remove_file(dir.join(format!("{}.lock", sanitize(&self.key))));
            }
        }
    }
}
