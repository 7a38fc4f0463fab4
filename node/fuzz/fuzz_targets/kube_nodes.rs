#![no_main]
//! Fuzz target: the kube_nodes parser never panics.

use kubestall_node::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse::kube::nodes(data);
    let _ = parse::kube::node(data);
});
