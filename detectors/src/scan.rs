//! Scanning big journal exports for the runbook's patterns, as `grep -ci` would,
//! and faster: the file is read in large blocks, folded to lowercase in place,
//! and searched with `memchr`'s SIMD substring finder; each matching line counts once.

use std::io::Read;
use std::path::Path;
use std::time::{Duration, Instant};

use memchr::memmem::Finder;

/// The runbook's step-3 pattern for Failure Mode 1: `grep -i "imagefs\|eviction manager"`.
pub const RUNBOOK_PATTERNS: [&str; 2] = ["imagefs", "eviction manager"];

/// Lines of `reader` containing any of `patterns`, case-insensitively (ASCII).
pub fn count_matching_lines<R: Read>(mut reader: R, patterns: &[&str]) -> std::io::Result<u64> {
    let lowered: Vec<String> = patterns.iter().map(|p| p.to_ascii_lowercase()).collect();
    let finders: Vec<Finder<'_>> = lowered.iter().map(|p| Finder::new(p.as_bytes())).collect();
    let mut buf = vec![0u8; 4 << 20];
    let mut carry = 0usize;
    let mut count = 0u64;
    loop {
        let n = reader.read(&mut buf[carry..])?;
        let filled = carry + n;
        if filled == 0 {
            break;
        }
        // Search only complete lines; keep the partial last line for the next block.
        let end = if n == 0 {
            filled
        } else {
            memchr::memrchr(b'\n', &buf[..filled]).map_or(0, |i| i + 1)
        };
        if end == 0 && n != 0 {
            if filled == buf.len() {
                buf.resize(buf.len() * 2, 0);
            }
            carry = filled;
            continue;
        }
        let block = &mut buf[..end];
        block.make_ascii_lowercase();
        count += count_block(block, &finders);
        buf.copy_within(end..filled, 0);
        carry = filled - end;
        if n == 0 {
            break;
        }
    }
    Ok(count)
}

fn count_block(block: &[u8], finders: &[Finder<'_>]) -> u64 {
    // Find the next hit of any pattern, count its line, skip to the line's end.
    let mut count = 0;
    let mut at = 0;
    while at < block.len() {
        let hit = finders.iter().filter_map(|f| f.find(&block[at..])).min();
        let Some(h) = hit else { break };
        count += 1;
        let pos = at + h;
        at = memchr::memchr(b'\n', &block[pos..]).map_or(block.len(), |i| pos + i + 1);
    }
    count
}

/// One measured scan: matching lines and the time it took.
#[derive(Clone, Copy, Debug)]
pub struct ScanTime {
    /// Matching lines.
    pub lines: u64,
    /// Wall time.
    pub took: Duration,
}

/// Scans `path` with [`count_matching_lines`] and times it.
pub fn time_scan(path: &Path) -> std::io::Result<ScanTime> {
    let start = Instant::now();
    let lines = count_matching_lines(std::fs::File::open(path)?, &RUNBOOK_PATTERNS)?;
    Ok(ScanTime {
        lines,
        took: start.elapsed(),
    })
}

/// Runs GNU grep with the runbook's pattern on `path` (`grep -ci 'imagefs\|eviction manager'`) and times it.
pub fn time_grep(path: &Path) -> std::io::Result<ScanTime> {
    let start = Instant::now();
    let out = std::process::Command::new("grep")
        .arg("-ci")
        .arg(r"imagefs\|eviction manager")
        .arg(path)
        .env("LC_ALL", "C")
        .output()?;
    let took = start.elapsed();
    let lines = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    Ok(ScanTime { lines, took })
}

/// Writes a journal export of about `bytes` bytes in `journalctl` short form:
/// ordinary kubelite lines with the imagefs line now and then.
pub fn write_sample_journal(path: &Path, bytes: u64) -> std::io::Result<u64> {
    use std::io::Write;
    let mut f = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let lines = [
        r#"May 22 02:34:21 k8s03 microk8s.daemon-kubelite[4242]: I0522 02:34:21.104412    4242 kubelet.go:2540] "SyncLoop ADD" source="api" pods=["default/web-7d9c6b5f8-x2k4p"]"#,
        r#"May 22 02:34:21 k8s03 microk8s.daemon-kubelite[4242]: I0522 02:34:21.204412    4242 controller.go:615] quota admission added evaluator for: leases.coordination.k8s.io"#,
        r#"May 22 02:34:22 k8s03 microk8s.daemon-kubelite[4242]: I0522 02:34:22.304412    4242 kubelet.go:2572] "SyncLoop (PLEG): event for pod" pod="default/web-1" event={"ID":"5b2f","Type":"ContainerStarted"}"#,
        r#"May 22 02:34:22 k8s03 microk8s.daemon-kubelite[4242]: I0522 02:34:22.404412    4242 reconciler.go:352] "Reconciler: start to sync state""#,
    ];
    let signature = r#"May 22 02:34:23 k8s03 microk8s.daemon-kubelite[4242]: E0522 02:34:23.441122    4242 eviction_manager.go:292] "eviction manager: failed to check if we have separate container filesystem. Ignoring." err="no imagefs label for configured runtime""#;
    let mut written = 0u64;
    let mut expected = 0u64;
    let mut i = 0u64;
    while written < bytes {
        let line = if i.is_multiple_of(997) {
            expected += 1;
            signature
        } else {
            lines[(i % 4) as usize]
        };
        f.write_all(line.as_bytes())?;
        f.write_all(b"\n")?;
        written += line.len() as u64 + 1;
        i += 1;
    }
    f.flush()?;
    Ok(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_lines_like_grep_ci() {
        let text =
            b"a IMAGEFS b imagefs\nnothing\nEviction Manager here\nlast imagefs without newline";
        assert_eq!(
            count_matching_lines(&text[..], &RUNBOOK_PATTERNS).ok(),
            Some(3)
        );
        assert_eq!(
            count_matching_lines(&b""[..], &RUNBOOK_PATTERNS).ok(),
            Some(0)
        );
    }

    #[test]
    fn agrees_with_grep_on_a_sample_journal() {
        let path = std::env::temp_dir().join(format!("kubestall-scan-{}.log", std::process::id()));
        let expected = write_sample_journal(&path, 3 << 20).expect("write");
        let ours = time_scan(&path).expect("scan");
        assert_eq!(ours.lines, expected);
        if let Ok(g) = time_grep(&path) {
            assert_eq!(g.lines, expected, "GNU grep counts the same lines");
        }
        let _ = std::fs::remove_file(path);
    }
}
