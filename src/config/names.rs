//! The Kubernetes name rules a configured value must follow, and the globs
//! `workloads.mountInto` matches names with.

use super::ConfigError;

/// Checks an object name (RFC 1123 subdomain), as PVC names must be.
pub(super) fn check_dns_subdomain(s: &str) -> Result<(), ConfigError> {
    if s.len() > 253 {
        return Err(ConfigError("longer than 253 characters".into()));
    }
    for label in s.split('.') {
        let b = label.as_bytes();
        if b.is_empty()
            || !b
                .iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            || !b[0].is_ascii_alphanumeric()
            || !b[b.len() - 1].is_ascii_alphanumeric()
        {
            return Err(ConfigError("use lower-case letters, digits, '-' and '.', starting and ending with a letter or digit".into()));
        }
    }
    Ok(())
}

/// Checks a label value (at most 63 characters of `[A-Za-z0-9._-]`,
/// starting and ending alphanumeric).
pub(super) fn check_label_value(s: &str) -> Result<(), ConfigError> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 63 {
        return Err(ConfigError("must be 1 to 63 characters".into()));
    }
    if !b
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
        || !b[0].is_ascii_alphanumeric()
        || !b[b.len() - 1].is_ascii_alphanumeric()
    {
        return Err(ConfigError(
            "use letters, digits, '-', '_' and '.', starting and ending with a letter or digit"
                .into(),
        ));
    }
    Ok(())
}

/// Matches a name against a glob with `*` (any run) and `?` (one character).
pub fn glob_match(glob: &str, name: &str) -> bool {
    let (g, n): (Vec<char>, Vec<char>) = (glob.chars().collect(), name.chars().collect());
    let (mut gi, mut ni, mut star, mut mark) = (0, 0, None, 0);
    while ni < n.len() {
        if gi < g.len() && (g[gi] == '?' || g[gi] == n[ni]) {
            gi += 1;
            ni += 1;
        } else if gi < g.len() && g[gi] == '*' {
            star = Some(gi);
            mark = ni;
            gi += 1;
        } else if let Some(s) = star {
            gi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    g[gi..].iter().all(|&c| c == '*')
}
