#![no_main]
//! Fuzz target: the /proc/PID/stat and /proc/stat parsers never panic.

use kubestall_node::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = parse::proc_stat::parse(data) {
        if let Ok(boot) = parse::proc_stat::boot_time(data) {
            let _ = s.started_at(boot, u64::from(data.first().copied().unwrap_or(0)));
        }
    }
    let _ = parse::proc_stat::boot_time(data);
});
