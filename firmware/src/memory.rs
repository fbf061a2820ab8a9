//! What the controller costs in memory, as the kernel counts it: resident set and heap
//! high-water mark, for the log and the budgets.

/// `(VmRSS, VmHWM)` of this process in KiB, from /proc/self/status.
pub fn resident_kib() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|n| n.parse().ok())
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}
