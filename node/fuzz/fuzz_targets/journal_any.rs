#![no_main]
//! Fuzz target: format detection and every journal parser behind it (short with a
//! year, kubelet JSON) never panic.

use kubestall_node::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = parse::journal::ReadOptions { year: Some(2026) };
    let _ = parse::journal::parse_with(data, opts);
    let _ = parse::journal::parse_short(data, 2026);
    let _ = parse::journal::parse_kubelet_json(data);
});
