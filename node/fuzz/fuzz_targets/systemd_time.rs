#![no_main]
//! Fuzz target: the systemd timestamp reader (every zone form, `@SECONDS`) never panics.

use kubestall_node::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse::systemctl::systemd_time(s);
    }
});
