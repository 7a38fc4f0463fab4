#![no_main]
//! Fuzz target: the pgrep parsers (live shims, processes, zombies) never panic.

use kubestall_node::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = parse::pgrep::shims(data);
    let _ = parse::pgrep::processes(data);
    let _ = parse::pgrep::defunct(data);
});
