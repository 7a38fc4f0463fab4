#![no_main]
//! Fuzz target: the kube_pods parser never panics.

use kubestall_node::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse::kube::pods(data);
    let _ = parse::kube::kubelet_pods(data);
});
