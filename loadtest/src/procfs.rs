//! CPU time and memory of processes, from /proc: the server's, given its pid, and our own.

/// USER_HZ: the unit of utime/stime in /proc/PID/stat on Linux.
const HZ: f64 = 100.0;

/// CPU seconds (user + system) a process has used, with all its threads.
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / HZ)
}

/// Resident memory in KiB.
pub(crate) fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// A CPU reading at one instant, to subtract from a later one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CpuMark {
    at: std::time::Instant,
    seconds: f64,
}

impl CpuMark {
    pub(crate) fn take(pid: u32) -> Option<Self> {
        Some(Self { at: std::time::Instant::now(), seconds: cpu_seconds(pid)? })
    }

    /// (CPU seconds used, wall seconds) since `self`.
    pub(crate) fn since(&self, pid: u32) -> Option<(f64, f64)> {
        let now = cpu_seconds(pid)?;
        Some((now - self.seconds, self.at.elapsed().as_secs_f64()))
    }
}
