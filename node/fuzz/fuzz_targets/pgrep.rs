#![no_main]
//! Fuzz target: the pgrep parser never panics.

use kubestall_node::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse::pgrep::shims(data);
    let _ = parse::pgrep::processes(data);
});
