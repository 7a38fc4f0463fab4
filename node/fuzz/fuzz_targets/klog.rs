#![no_main]
//! Fuzz target: the klog line reader never panics.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = kubestall_node::klog::KlogLine::parse(s);
    }
});
