#![no_main]
//! Fuzz target: the kube_events parser never panics.

use kubestall_node::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse::kube::kubelet_events(data);
});
