//! Dotted key paths that name a value in a configuration file.
//!
//! The decoder, the validator and the position lookup all talk about values by the same
//! string, such as `dataplane.port[0].address` or `target_group.attributes."stickiness.type"`.
//! Keys that are not bare TOML keys are quoted as TOML would quote them, so a path is always
//! unambiguous and can be pasted into a search. This module builds and takes apart those
//! strings in one place so that the three stages cannot drift apart.

/// Returns the path of `key` inside the table at `parent` (the root is the empty path).
pub(crate) fn child(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    let mut path = String::with_capacity(parent.len() + key.len() + 3);
    path.push_str(parent);
    if !parent.is_empty() {
        path.push('.');
    }
    if bare {
        path.push_str(key);
    } else {
        path.push('"');
        for c in key.chars() {
            if c == '"' || c == '\\' {
                path.push('\\');
            }
            path.push(c);
        }
        path.push('"');
    }
    path
}

/// Returns the path of element `i` of the array at `parent`.
pub(crate) fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

/// Returns the path of the table or array that holds `path`, or `None` for the root.
pub(crate) fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    let mut in_quotes = false;
    let mut escaped = false;
    let mut last = 0;
    for (i, c) in path.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '.' | '[' if !in_quotes => last = i,
            _ => {}
        }
    }
    Some(&path[..last])
}

/// Returns whether one path contains the other (or they are equal): a failure at `a` makes
/// any statement about `b` unreliable and the other way round.
pub(crate) fn touches(a: &str, b: &str) -> bool {
    fn contains(outer: &str, inner: &str) -> bool {
        inner.strip_prefix(outer).is_some_and(|rest| {
            outer.is_empty() || rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')
        })
    }
    contains(a, b) || contains(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_splits_paths() {
        let tg = child("", "target_group");
        let attr = child(&child(&tg, "attributes"), "stickiness.type");
        assert_eq!(attr, r#"target_group.attributes."stickiness.type""#);
        assert_eq!(parent(&attr), Some("target_group.attributes"));
        assert_eq!(parent("target[2]"), Some("target"));
        assert_eq!(parent("target[2].ip"), Some("target[2]"));
        assert_eq!(parent("role"), Some(""));
        assert_eq!(parent(""), None);
        assert_eq!(child("a", "we\"ird"), r#"a."we\"ird""#);
    }

    #[test]
    fn touching_paths_share_a_boundary() {
        assert!(touches("target", "target[2].ip"));
        assert!(touches("target[2].ip", "target"));
        assert!(touches("a.b", "a.b"));
        assert!(!touches("target", "targets"));
        assert!(!touches("a.b", "a.c"));
        assert!(touches("", "anything"));
    }
}
