//! Values turned into `helm template` arguments that Helm reads back as
//! exactly the value checked: names as Helm checks them, `--values` as one
//! CSV field, `--set` pairs escaped for Helm's parser.

use super::{ParamError, refuse};

/// A DNS-1123 subdomain of at most `max` characters (Helm's release-name
/// rule; namespaces are the label subset of it).
pub(super) fn dns1123(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// Helm reads `--values` and `--api-versions` as comma-separated lists
/// (pflag's `StringSlice`, parsed as one CSV record: `,` splits, `"`
/// quotes, a line break ends the list, `\r\n` becomes `\n`). A value is
/// passed only when Helm will read it back as exactly one item, the one
/// that was checked: without `,`, `"`, `\r` or `\n`. (Quoting cannot be
/// proven safe across Helm versions, so such values are refused.)
pub(super) fn one_csv_field(value: &str, param: &str, given: &str) -> Result<(), ParamError> {
    match value.chars().find(|c| matches!(c, ',' | '"' | '\r' | '\n')) {
        None => Ok(()),
        Some(c) => refuse(format!(
            "plugin parameter '{param}' ('{}'): its path holds {}, which Helm reads as a list \
             separator or quote in --values (a comma-separated list): Helm would read other files \
             than the one checked; rename the file or folder",
            given.escape_debug(),
            match c {
                ',' => "a comma",
                '"' => "a double quote",
                _ => "a line break",
            }
        )),
    }
}

/// True when Helm's `--set` parser (strvals) reads `key` as a key that ends
/// where it was meant to: a `\` escapes the next character there, so a key
/// ending in an unpaired `\` would swallow the `=` after it (`x\` + `={a,b}`
/// becomes the key `x=` with a list).
pub(super) fn key_ends_cleanly(key: &str) -> bool {
    let mut escaped = false;
    for c in key.chars() {
        escaped = !escaped && c == '\\';
    }
    !escaped
}

/// One `--set`/`--set-string` pair as one argument, whose value is one
/// string: the key may not start with `-`, hold `=`, `,` or control
/// characters, nor end in an escaping `\`; in the value, `\\` and `,` are
/// escaped for Helm's parser, and a value starting with `{` (Helm's list
/// syntax, which escaping cannot turn back into a string) is refused: lists
/// go in a values file.
pub(super) fn set_arg(
    flag: &str,
    param: &str,
    key: &str,
    value: &str,
) -> Result<String, ParamError> {
    if key.is_empty()
        || key.starts_with('-')
        || key.contains(['=', ','])
        || key.chars().any(char::is_control)
        || !key_ends_cleanly(key)
    {
        return refuse(format!(
            "plugin parameter '{param}': key '{}' is not a values path",
            key.escape_debug()
        ));
    }
    if value.chars().any(|c| c.is_control() && c != '\t') {
        return refuse(format!(
            "plugin parameter '{param}.{key}': control characters are not allowed"
        ));
    }
    if value.starts_with('{') {
        return refuse(format!(
            "plugin parameter '{param}.{key}': a value starting with '{{' would be read as a list; \
             put lists in a values file (values-files)"
        ));
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if matches!(c, '\\' | ',') {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(format!("--{flag}={key}={out}"))
}
