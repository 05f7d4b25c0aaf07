//! What a JSON report says about its own run: the schema, the tool and its commit, the command
//! line, the machine and the time, so a figure can be traced to what produced it.

use serde_json::{Value, json};
use std::time::SystemTime;

/// Bumped whenever a field of the JSON report changes meaning or disappears.
pub(crate) const SCHEMA_VERSION: u32 = 2;

/// Taken when the run starts.
#[derive(Debug, Clone)]
pub(crate) struct RunMeta {
    started: SystemTime,
    command_line: Vec<String>,
}

impl RunMeta {
    pub(crate) fn now() -> Self {
        Self { started: SystemTime::now(), command_line: std::env::args().collect() }
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "schema_version": SCHEMA_VERSION,
            "tool": {
                "name": "ringws-load",
                "version": env!("CARGO_PKG_VERSION"),
                "git_commit": env!("RINGWS_LOAD_COMMIT"),
            },
            "command_line": self.command_line,
            "started_at": humantime::format_rfc3339_seconds(self.started).to_string(),
            "machine": machine(),
        })
    }
}

fn machine() -> Value {
    let read = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned());
    let cpu_model = read("/proc/cpuinfo").and_then(|info| {
        info.lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
    });
    let memory_kib = read("/proc/meminfo").and_then(|info| {
        info.lines()
            .find(|l| l.starts_with("MemTotal:"))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
    });
    json!({
        "cores": std::thread::available_parallelism().map_or(0, |n| n.get()),
        "cpu_model": cpu_model,
        "memory_kib": memory_kib,
        "kernel": read("/proc/sys/kernel/osrelease"),
        "hostname": read("/proc/sys/kernel/hostname"),
    })
}
