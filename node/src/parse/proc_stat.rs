//! `/proc/PID/stat` (one process's status line) and `/proc/stat`'s `btime`,
//! which together tell when a process started: `btime` is the boot time in
//! seconds since the epoch, field 22 of `/proc/PID/stat` the start in clock
//! ticks since boot (`getconf CLK_TCK` per second, 100 on Linux).
//!
//! The process name (field 2) is in parentheses and may itself hold spaces and
//! parentheses (`81 (a) b (c) S 1 ...`): the fields after it start after the
//! line's last `)`.

use crate::error::ParseError;
use crate::signals::Pid;
use crate::time::Timestamp;

const WHAT: &str = "/proc/PID/stat";
const PROC_STAT: &str = "/proc/stat";

/// What `/proc/PID/stat` says of a process (the fields the runbook uses).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 1, the process id.
    pub pid: Pid,
    /// Field 2 without its parentheses: the executable's name, cut to 15 bytes.
    pub comm: String,
    /// Field 3.
    pub state: ProcState,
    /// Field 4, the parent's process id.
    pub ppid: u32,
    /// Field 22, when it started, in clock ticks since boot.
    pub start_ticks: u64,
}

/// A process's state letter (field 3), as `ps` shows it in its `STAT` column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcState {
    /// `R`: running or runnable.
    Running,
    /// `S`: sleeping, interruptibly (waiting for an event).
    Sleeping,
    /// `D`: waiting uninterruptibly, usually on IO (a hung filesystem).
    DiskSleep,
    /// `T`: stopped by a signal (`kill -STOP`: a frozen shim).
    Stopped,
    /// `t`: stopped by a tracer.
    TracingStop,
    /// `Z`: exited, not yet reaped by its parent.
    Zombie,
    /// `X`: dead.
    Dead,
    /// `I`: an idle kernel thread.
    Idle,
    /// Any other letter (`P` parked, `W` waking, `K` wakekill on old kernels).
    Other(char),
}

impl ProcState {
    fn from_letter(c: char) -> Self {
        match c {
            'R' => ProcState::Running,
            'S' => ProcState::Sleeping,
            'D' => ProcState::DiskSleep,
            'T' => ProcState::Stopped,
            't' => ProcState::TracingStop,
            'Z' => ProcState::Zombie,
            'X' | 'x' => ProcState::Dead,
            'I' => ProcState::Idle,
            other => ProcState::Other(other),
        }
    }
}

impl ProcStat {
    /// When the process started, given the boot time ([`boot_time`]) and the
    /// clock ticks per second (`getconf CLK_TCK`).
    pub fn started_at(&self, boot: Timestamp, ticks_per_sec: u64) -> Timestamp {
        let hz = u128::from(ticks_per_sec.max(1));
        let micros = u128::from(self.start_ticks) * 1_000_000 / hz;
        Timestamp::from_micros(
            boot.as_micros()
                .saturating_add(i64::try_from(micros).unwrap_or(i64::MAX)),
        )
    }
}

/// Parses one `/proc/PID/stat` line.
///
/// ```
/// use kubestall_node::parse::proc_stat::{parse, ProcState};
/// let s = parse(b"81 (a) b (c) S 1 0 0 0 -1 4194304 126 0 0 0 0 0 0 0 20 0 1 0 60965 2990080\n")?;
/// assert_eq!((s.comm.as_str(), s.state, s.start_ticks), ("a) b (c", ProcState::Sleeping, 60965));
/// # Ok::<(), kubestall_node::ParseError>(())
/// ```
pub fn parse(input: &[u8]) -> Result<ProcStat, ParseError> {
    let text = super::text(WHAT, input)?;
    let (n, line) = text
        .lines()
        .enumerate()
        .find(|(_, l)| !l.trim().is_empty())
        .ok_or_else(|| ParseError::new(WHAT, 1, "empty", ""))?;
    parse_line(line).map_err(|m| ParseError::new(WHAT, n + 1, m, line))
}

fn parse_line(line: &str) -> Result<ProcStat, String> {
    let (pid, rest) = line
        .trim_start()
        .split_once(" (")
        .ok_or("expected `PID (NAME) STATE ...`")?;
    let pid = pid
        .parse::<u32>()
        .map_err(|_| format!("the pid {pid:?} is not a number"))?;
    let close = rest.rfind(')').ok_or("no `)` closing the process name")?;
    let comm = rest[..close].to_string();
    // Fields 3 onwards; fields[0] is field 3.
    let fields: Vec<&str> = rest[close + 1..].split_whitespace().collect();
    let field = |n: usize| {
        fields
            .get(n - 3)
            .copied()
            .ok_or_else(|| format!("expected at least 22 fields, found {}", fields.len() + 2))
    };
    let mut letters = field(3)?.chars();
    let state = match (letters.next(), letters.next()) {
        (Some(c), None) => ProcState::from_letter(c),
        _ => return Err(format!("the state {:?} is not one letter", field(3)?)),
    };
    let number = |n: usize, name: &str| {
        field(n).and_then(|f| {
            f.parse::<u64>()
                .map_err(|_| format!("field {n} ({name}) {f:?} is not a number"))
        })
    };
    Ok(ProcStat {
        pid: Pid(pid),
        comm,
        state,
        ppid: u32::try_from(number(4, "ppid")?).map_err(|_| "the ppid is too large")?,
        start_ticks: number(22, "starttime")?,
    })
}

/// The boot time from `/proc/stat`'s `btime SECONDS` line.
///
/// ```
/// let t = kubestall_node::parse::proc_stat::boot_time(b"cpu  1 2 3\nbtime 1796194248\n")?;
/// assert_eq!(t, kubestall_node::Timestamp::from_secs(1_796_194_248));
/// # Ok::<(), kubestall_node::ParseError>(())
/// ```
pub fn boot_time(input: &[u8]) -> Result<Timestamp, ParseError> {
    let text = String::from_utf8_lossy(input);
    for (i, line) in text.lines().enumerate() {
        if let Some(v) = line.strip_prefix("btime ") {
            return v
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|s| (0..1 << 40).contains(s))
                .map(Timestamp::from_secs)
                .ok_or_else(|| {
                    ParseError::new(
                        PROC_STAT,
                        i + 1,
                        "btime is not seconds since the epoch",
                        line,
                    )
                });
        }
    }
    Err(ParseError::new(
        PROC_STAT,
        1,
        "no `btime` line: is this /proc/stat?",
        text.lines().next().unwrap_or(""),
    ))
}
