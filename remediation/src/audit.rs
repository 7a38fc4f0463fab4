//! The audit log: every step's start, end, result and evidence, one JSON object
//! per line, appended and flushed as it happens, so a crash at any point leaves a
//! record `kubestall remediate --resume LOG` can continue from.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use kubestall_node::{NodeName, Timestamp};
use serde::{Deserialize, Serialize};

use crate::plan::Plan;

/// What a record marks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Event {
    /// The plan, written first.
    Plan,
    /// A step started.
    Start,
    /// A step ended well.
    Done,
    /// A step failed.
    Failed,
    /// The stall persisted: the escalation steps follow.
    Escalate,
    /// The whole procedure ended well.
    Finished,
}

/// One line of the audit log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When, on the node's clock.
    pub at: Timestamp,
    /// The node.
    pub node: NodeName,
    /// What happened.
    pub event: Event,
    /// The step's position (in the plan's steps, then its escalation).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub step: Option<usize>,
    /// The step's kind (`cordon`, `restart`, ...), for people reading the log.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kind: Option<String>,
    /// What it found or did.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub detail: String,
    /// The plan, on the first record.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub plan: Option<Plan>,
}

/// Where records go.
pub enum AuditLog {
    /// A JSON-lines file.
    File {
        /// Its path.
        path: PathBuf,
        /// Open for appending.
        file: File,
    },
    /// Kept in memory (simulated runs).
    Memory(Vec<Record>),
}

/// The audit log could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// IO on the log file.
    #[error("audit log {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not a record.
    #[error("audit log {path}, line {line}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl AuditLog {
    /// A log in memory.
    pub fn memory() -> Self {
        AuditLog::Memory(Vec::new())
    }

    /// Appends to (or creates) the file at `path`.
    pub fn append(path: &Path) -> Result<Self, AuditError> {
        let io = |source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(io)?;
        Ok(AuditLog::File {
            path: path.to_path_buf(),
            file,
        })
    }

    /// Adds a record (and flushes it to disk).
    pub fn record(&mut self, r: Record) -> Result<(), AuditError> {
        match self {
            AuditLog::Memory(v) => {
                v.push(r);
                Ok(())
            }
            AuditLog::File { path, file } => {
                let io = |source| AuditError::Io {
                    path: path.clone(),
                    source,
                };
                let mut line =
                    serde_json::to_string(&r).map_err(|e| io(std::io::Error::other(e)))?;
                line.push('\n');
                file.write_all(line.as_bytes()).map_err(io)?;
                file.sync_data().map_err(io)
            }
        }
    }

    /// The records kept in memory (empty for a file log).
    pub fn records(&self) -> &[Record] {
        match self {
            AuditLog::Memory(v) => v,
            AuditLog::File { .. } => &[],
        }
    }
}

/// Reads every record of a log file.
pub fn read(path: &Path) -> Result<Vec<Record>, AuditError> {
    let f = File::open(path).map_err(|source| AuditError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let lines: Vec<String> = BufReader::new(f)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|source| AuditError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let last = lines.iter().rposition(|l| !l.trim().is_empty());
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(line) {
            Ok(r) => out.push(r),
            // A crash can cut the last line short; everything before it stands.
            Err(_) if Some(i) == last => {}
            Err(e) => {
                return Err(AuditError::Corrupt {
                    path: path.to_path_buf(),
                    line: i + 1,
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(out)
}

/// Where a remediation stood when its log ends: what `--resume` continues.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// The plan, as first recorded.
    pub plan: Plan,
    /// The step (1-based) after which the run escalated to the nuclear option.
    pub escalated_at: Option<usize>,
    /// The last step (1-based, over [`Plan::executed_steps`]) that ended well.
    pub done: usize,
    /// The procedure ended well.
    pub finished: bool,
}

impl Progress {
    /// Reads the progress from a log's records.
    pub fn of(records: &[Record]) -> Result<Progress, String> {
        let plan = records
            .iter()
            .find_map(|r| r.plan.clone())
            .ok_or_else(|| "the log has no plan record: not a kubestall audit log".to_string())?;
        let escalated_at = records
            .iter()
            .filter(|r| r.event == Event::Escalate)
            .find_map(|r| r.step);
        if records.iter().any(|r| r.event == Event::Escalate) && escalated_at.is_none() {
            return Err("the log's escalation record names no step".into());
        }
        let done = records
            .iter()
            .filter(|r| r.event == Event::Done)
            .filter_map(|r| r.step)
            .max()
            .unwrap_or(0);
        Ok(Progress {
            finished: records.iter().any(|r| r.event == Event::Finished),
            plan,
            escalated_at,
            done,
        })
    }

    /// The steps the run carries out, escalation included as it happened.
    pub fn steps(&self) -> Vec<&crate::plan::PlannedStep> {
        self.plan.executed_steps(self.escalated_at)
    }
}
