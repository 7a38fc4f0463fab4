#![no_main]
//! Fuzz target: the journal_json parser never panics.

use kubestall_node::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse::journal::parse_json(data);
});
