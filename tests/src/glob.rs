//! fnmatch-style matching (`*` and `?`), as iscsi-test-cu applies its `-t` patterns, so the
//! runner can tell which listed tests a pattern covers.

/// Whether `text` matches the glob `pattern` (`*` any run of characters, dots included;
/// `?` one character; everything else literal).
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // Where the last `*` was and how much text it has swallowed: the classic linear-time
    // backtracking for single-star globs.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_pi, star_ti)) = star {
            pi = star_pi + 1;
            ti = star_ti + 1;
            star = Some((star_pi, star_ti + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// Whether `text` matches any pattern of a comma-separated list, as `-t` accepts.
pub fn matches_any(patterns: &str, text: &str) -> bool {
    patterns
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .any(|p| matches(p, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_fnmatch() {
        assert!(matches("SCSI.Read10.*", "SCSI.Read10.Simple"));
        assert!(!matches("SCSI.Read10.*", "SCSI.Read12.Simple"));
        assert!(!matches("SCSI.Read10.*", "ALL.Read10.Simple"));
        assert!(matches("iSCSI.*", "iSCSI.iSCSITMF.LUNResetSimpleAsync"));
        assert!(matches("*Read*", "SCSI.Read6.BeyondEol"));
        assert!(matches("SCSI.Read?.*", "SCSI.Read6.Simple"));
        assert!(!matches("SCSI.Read?.*", "SCSI.Read10.Simple"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("*", ""));
    }

    #[test]
    fn comma_lists_are_alternatives() {
        assert!(matches_any(
            "SCSI.Read6.*, iSCSI.*",
            "iSCSI.iSCSInop.Simple"
        ));
        assert!(!matches_any("SCSI.Read6.*,", "SCSI.Read10.Simple"));
    }
}
