//! The runbook's procedures as safe, verifiable, resumable plans.
//!
//! A [`Plan`] is data: the steps of one procedure for one node ([`plan_for`]).
//! [`render_dry_run`] prints it as the commands a person would type; the
//! [`Executor`] carries it out through `Control` on any backend, enforcing the
//! safety rules (no kubelite restart on a schedulable node in the mode-2 and
//! mode-3 procedures, orphans matched by exact container id, the nuclear option
//! only when allowed, a cordon budget, one remediation per node, a timeout per
//! step), and writes every step to an [`AuditLog`] from which it can resume.
//!
//! Remediation takes a `FailureMode` and the facts it needs, never a detector's
//! types: `node` ← {`sim`, `detectors`, `remediation`} ← `harness`.

pub mod audit;
mod executor;
mod lock;
mod plan;
mod render;

pub use audit::{AuditLog, Progress, Record};
pub use executor::{Executor, Outcome, RemediationError, SafetyPolicy, StepOutcome};
pub use lock::{Guard, Held, Locks};
pub use plan::{Plan, PlanContext, PlannedStep, ProcedureId, Step, plan_for};
pub use render::{RenderOptions, render_dry_run, render_step};
