//! What the machine and the stack's processes spent, read from `/proc`: the machine's busy
//! CPU time, a process's CPU time (with its children: nginx's workers) and its memory.

use super::error::{Error, Result};

/// Clock ticks per second (the unit of `/proc` CPU times).
pub fn clock_ticks() -> u64 {
    // SAFETY: sysconf only reads a system setting.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|&h| h > 0).unwrap_or(100)
}

/// CPUs this process may use (what `nproc` says).
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Ticks the whole machine was busy so far (user, nice, system, irq, softirq, steal).
pub fn busy_ticks() -> Result<u64> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(Error::io("reading /proc/stat"))?;
    busy_of(&stat).ok_or_else(|| Error::Failed("/proc/stat has no cpu line".into()))
}

fn busy_of(stat: &str) -> Option<u64> {
    let line = stat
        .lines()
        .find(|l| l.split_whitespace().next() == Some("cpu"))?;
    let f: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    Some(f.get(0..3)?.iter().sum::<u64>() + f.get(5..8)?.iter().sum::<u64>())
}

/// utime + stime of `pid` and of its children, in ticks (0 when gone).
pub fn process_ticks(pid: i32) -> u64 {
    let own = read_stat(pid).map_or(0, |s| s.ticks);
    own + children(pid)
        .into_iter()
        .filter_map(read_stat)
        .map(|s| s.ticks)
        .sum::<u64>()
}

struct Stat {
    ppid: i32,
    ticks: u64,
}

fn read_stat(pid: i32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `/proc/PID/stat`: the fields after the command name (which may hold spaces and
/// parentheses) start with state, ppid; utime and stime are the 14th and 15th fields.
fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        ppid: f.get(1)?.parse().ok()?,
        ticks: f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?,
    })
}

fn children(pid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&p| read_stat(p).is_some_and(|s| s.ppid == pid))
        .collect()
}

/// A memory figure of `/proc/PID/status` (`VmHWM`: peak RSS, `VmRSS`) in KiB.
pub fn memory_kib(pid: i32, field: &str) -> Option<u64> {
    status_kib(
        &std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?,
        field,
    )
}

fn status_kib(status: &str, field: &str) -> Option<u64> {
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?;
    line.split_whitespace().next()?.parse().ok()
}

/// KiB as whole MiB.
pub fn mib(kib: u64) -> String {
    format!("{:.0}", kib as f64 / 1024.0)
}

/// Raises this process's open-file limit to its hard limit, for wrk's connections.
pub fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on this process, with a struct owned here.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_time_leaves_out_idle_and_iowait() {
        let stat = "cpu  10 1 5 1000 50 2 3 4 0 0\ncpu0 5 0 2 500 25 1 1 2 0 0\n";
        assert_eq!(busy_of(stat), Some(10 + 1 + 5 + 2 + 3 + 4));
        assert_eq!(busy_of("intr 1 2\n"), None);
    }

    #[test]
    fn a_process_stat_is_read_past_a_command_name_with_spaces() {
        let s = "4242 (nginx: worker (x)) S 4200 4200 4200 0 -1 4194560 10 0 0 0 37 12 0 0";
        let stat = parse_stat(s).unwrap();
        assert_eq!(stat.ppid, 4200);
        assert_eq!(stat.ticks, 49);
        let me = process_ticks(std::process::id() as i32);
        assert!(read_stat(std::process::id() as i32).is_some(), "{me}");
    }

    #[test]
    fn memory_is_read_in_kib_and_shown_in_mib() {
        let status = "Name:\tstock\nVmHWM:\t   20480 kB\nVmRSS:\t   10752 kB\n";
        assert_eq!(status_kib(status, "VmHWM"), Some(20480));
        assert_eq!(status_kib(status, "VmRSS"), Some(10752));
        assert_eq!(status_kib(status, "VmSwap"), None);
        assert_eq!(mib(20480), "20");
        assert_eq!(mib(10752), "10");
    }
}
