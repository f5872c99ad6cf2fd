//! Peak resident memory of a process, from `VmHWM` in `/proc/<pid>/status` (Linux only;
//! elsewhere there is no figure).

/// The peak resident set size of `pid` in MiB, or `None` when `/proc` does not say.
pub(super) fn peak_rss_mib(pid: u32) -> Option<f64> {
    status_mib(pid, "VmHWM:")
}

/// The resident set size of `pid` now (`VmRSS`), in MiB.
pub(super) fn rss_mib(pid: u32) -> Option<f64> {
    status_mib(pid, "VmRSS:")
}

fn status_mib(pid: u32, field: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_mib(&status, field)
}

/// Reads a `Field:   12345 kB` line of a `/proc/<pid>/status` text.
fn parse_mib(status: &str, field: &str) -> Option<f64> {
    let line = status.lines().find_map(|l| l.strip_prefix(field))?;
    let kib: u64 = line.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_vm_hwm() {
        let status =
            "Name:\tb00t\nVmPeak:\t  900000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(parse_mib(status, "VmHWM:"), Some(20.0));
        assert_eq!(parse_mib(status, "VmRSS:"), Some(10.0));
        assert_eq!(parse_mib("Name:\tb00t\n", "VmHWM:"), None);
        assert_eq!(parse_mib("VmHWM:\tmany kB\n", "VmHWM:"), None);
    }

    #[test]
    fn reads_this_process() {
        if cfg!(target_os = "linux") {
            assert!(peak_rss_mib(std::process::id()).is_some_and(|mib| mib > 0.0));
        }
    }
}
