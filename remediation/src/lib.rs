//! The runbook's procedures as safe, verifiable, resumable plans.
