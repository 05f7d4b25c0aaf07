//! Ring setup: the fastest flags the kernel accepts, a probe of the opcodes the driver needs, and
//! an error that names the cause when io_uring is not available at all.

use io_uring::{IoUring, opcode, register::Probe};
use std::io;

/// What the kernel supports, probed once per ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Features {
    /// The ring was built with SINGLE_ISSUER + DEFER_TASKRUN (+ COOP_TASKRUN, SUBMIT_ALL).
    pub defer_taskrun: bool,
    /// Multishot accept (5.19).
    pub accept_multi: bool,
    /// Multishot receive with provided buffers (6.0).
    pub recv_multi: bool,
    /// Ring-to-ring messages (5.18).
    pub msg_ring: bool,
    /// Zero-copy send (6.0).
    pub send_zc: bool,
    /// Cancel by descriptor, all matches (5.19).
    pub cancel_fd: bool,
}

impl Features {
    /// The features the driver cannot run without, by name, if any is missing.
    pub fn missing(&self) -> Vec<&'static str> {
        let mut missing = Vec::new();
        if !self.accept_multi {
            missing.push("multishot accept (IORING_OP_ACCEPT with IORING_ACCEPT_MULTISHOT, 5.19)");
        }
        if !self.recv_multi {
            missing.push("multishot recv with buffer rings (IORING_OP_RECV multishot, 6.0)");
        }
        if !self.msg_ring {
            missing.push("ring messages (IORING_OP_MSG_RING, 5.18)");
        }
        missing
    }
}

/// How a ring is set up.
#[derive(Clone, Copy, Debug)]
pub struct RingConfig {
    /// Submission queue entries.
    pub entries: u32,
    /// Completion queue entries (at least twice `entries` is wise with multishot ops).
    pub cq_entries: u32,
    /// Try SINGLE_ISSUER + DEFER_TASKRUN. Only a ring that its own thread waits on may use it:
    /// deferred work runs only when that ring is entered with GETEVENTS.
    pub defer_taskrun: bool,
}

impl Default for RingConfig {
    fn default() -> Self {
        Self { entries: 4096, cq_entries: 16384, defer_taskrun: true }
    }
}

/// Builds a ring with the best flags this kernel accepts, and probes it.
///
/// # Errors
/// When io_uring itself is unavailable, the error names the likely cause (disabled by sysctl,
/// blocked by a seccomp profile, kernel too old) and what to do. A kernel that has io_uring but
/// lacks a required opcode is reported by [`Features::missing`].
pub(crate) fn build(config: &RingConfig) -> io::Result<(IoUring, Features)> {
    let mut features = Features::default();
    let fast = config.defer_taskrun.then(|| {
        // TASKRUN_FLAG: the kernel flags the ring when deferred completion work is waiting, so
        // an enter that waits for nothing (the loop has work in hand) still carries GETEVENTS
        // and runs it. Without it, a loop that always has work pending elsewhere never lets
        // this ring's completions out: in a million-connection run the load generator's home
        // ring went 40 s without a receive, and the server closed its 18,900 connections.
        IoUring::builder()
            .setup_single_issuer()
            .setup_defer_taskrun()
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .setup_submit_all()
            .setup_cqsize(config.cq_entries)
            .build(config.entries)
    });
    let ring = match fast {
        Some(Ok(ring)) => {
            features.defer_taskrun = true;
            ring
        }
        _ => {
            let coop = IoUring::builder()
                .setup_single_issuer()
                .setup_coop_taskrun()
                .setup_taskrun_flag()
                .setup_submit_all()
                .setup_cqsize(config.cq_entries)
                .build(config.entries);
            match coop {
                Ok(ring) => ring,
                Err(_) => IoUring::builder()
                    .setup_cqsize(config.cq_entries)
                    .build(config.entries)
                    .map_err(unavailable)?,
            }
        }
    };
    let mut probe = Probe::new();
    ring.submitter().register_probe(&mut probe).map_err(unavailable)?;
    features.accept_multi = probe.is_supported(opcode::AcceptMulti::CODE);
    features.recv_multi = probe.is_supported(opcode::RecvMulti::CODE);
    features.msg_ring = probe.is_supported(opcode::MsgRingData::CODE);
    features.send_zc = probe.is_supported(opcode::SendZc::CODE);
    features.cancel_fd = probe.is_supported(opcode::AsyncCancel2::CODE);
    Ok((ring, features))
}

/// Turns a failed io_uring_setup into an error that says why and what to do.
fn unavailable(e: io::Error) -> io::Error {
    let cause = match e.raw_os_error() {
        Some(libc::ENOSYS) => {
            "this kernel has no io_uring (built without CONFIG_IO_URING, or older than 5.1); \
             ringws needs Linux 6.0 or later"
        }
        Some(libc::EPERM) => {
            "io_uring is disabled: check `sysctl kernel.io_uring_disabled` (must be 0, or 1 with \
             this user in kernel.io_uring_group), and container seccomp profiles (Docker's default \
             blocks io_uring: run with a profile that allows io_uring_setup/enter/register)"
        }
        Some(libc::ENOMEM) => {
            "the kernel could not allocate the ring: raise RLIMIT_MEMLOCK (ulimit -l) on kernels \
             before 5.12, or lower the ring size"
        }
        Some(libc::EMFILE) | Some(libc::ENFILE) => "out of file descriptors for the ring itself",
        _ => "io_uring_setup failed",
    };
    io::Error::new(e.kind(), format!("io_uring unavailable: {cause} ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernel_has_what_the_driver_needs() {
        let (_ring, features) = build(&RingConfig::default()).expect("io_uring on this machine");
        assert!(features.missing().is_empty(), "missing: {:?}", features.missing());
        assert!(features.defer_taskrun, "6.1+ accepts DEFER_TASKRUN");
    }

    #[test]
    fn setup_errors_name_the_cause() {
        let e = unavailable(io::Error::from_raw_os_error(libc::EPERM));
        assert!(e.to_string().contains("kernel.io_uring_disabled"), "{e}");
        let e = unavailable(io::Error::from_raw_os_error(libc::ENOSYS));
        assert!(e.to_string().contains("no io_uring"), "{e}");
    }
}
