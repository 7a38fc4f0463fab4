#![no_main]
//! Fuzz target: the systemctl parser never panics.

use kubestall_node::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse::systemctl::parse(data);
});
