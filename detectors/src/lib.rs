//! Signals to findings: one detector per kubelet stall mode and the runbook's classifier.
