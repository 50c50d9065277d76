//! Rules for `[management]`: absolute paths, principals and their token hashes, and access
//! policies that name existing principals with well-formed actions and resources.

use std::path::Path;

use super::{Checker, Rule};
use crate::schema::management::Management;

pub(super) fn check(check: &mut Checker, management: &Management) {
    check_absolute(check, "management.socket", &management.socket);
    check_absolute(check, "management.audit_log", &management.audit_log);
    check_absolute(check, "management.state_file", &management.state_file);
    if let Some(tls) = &management.tls {
        check_absolute(check, "management.tls.certificate", &tls.certificate);
        check_absolute(check, "management.tls.private_key", &tls.private_key);
        if management.metrics_listen == Some(tls.listen) {
            let rule = Rule::SameListenAddress {
                addr: tls.listen.to_string(),
            };
            check.push(
                "management.metrics_listen",
                &["management.tls.listen"],
                rule,
            );
        }
    }

    let principals = || management.principals.iter().enumerate();
    for (i, principal) in principals() {
        let is_name_char =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-');
        if !super::spelled_with(&principal.name, 64, is_name_char) {
            let rule = Rule::BadName {
                value: principal.name.clone(),
                what: "principal name",
                rule: "use 1–64 characters of A-Z, a-z, 0-9, _, ., @ and -",
            };
            check.push(format!("management.principal[{i}].name"), &[], rule);
        }
        let hash = &principal.token_sha256;
        if hash.len() != 64 || !hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            let found = match hash.chars().count() {
                64 => "characters other than 0-9 and a-f".to_owned(),
                n => format!("{n} characters"),
            };
            let rule = Rule::BadTokenHash { found };
            check.push(format!("management.principal[{i}].token_sha256"), &[], rule);
        }
    }
    check.unique(
        principals().map(|(i, p)| (format!("management.principal[{i}].name"), p.name.clone())),
        |name| format!("principal \"{name}\""),
    );
    check.unique(
        principals().map(|(i, p)| {
            let key = format!("management.principal[{i}].token_sha256");
            (key, p.token_sha256.clone())
        }),
        |_| "token hash (two principals would share one token)".to_owned(),
    );

    let known: Vec<&str> = management
        .principals
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    for (i, policy) in management.policies.iter().enumerate() {
        let key = |field: &str| format!("management.policy[{i}].{field}");
        for (field, len) in [
            ("principals", policy.principals.len()),
            ("actions", policy.actions.len()),
            ("resources", policy.resources.len()),
        ] {
            if len == 0 {
                check.push(key(field), &[], Rule::Empty { hint: "" });
            }
        }
        for (j, name) in policy.principals.iter().enumerate() {
            if name != "*" && !known.contains(&name.as_str()) {
                let rule = Rule::UnknownPrincipal {
                    name: name.clone(),
                    known: if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    },
                };
                check.push(
                    format!("management.policy[{i}].principals[{j}]"),
                    &["management.principal"],
                    rule,
                );
            }
        }
        for (j, action) in policy.actions.iter().enumerate() {
            if !is_action(action) {
                let rule = Rule::BadAction {
                    value: action.clone(),
                };
                check.push(format!("management.policy[{i}].actions[{j}]"), &[], rule);
            }
        }
        for (j, resource) in policy.resources.iter().enumerate() {
            if !is_resource(resource) {
                let rule = Rule::BadResource {
                    value: resource.clone(),
                };
                check.push(format!("management.policy[{i}].resources[{j}]"), &[], rule);
            }
        }
    }
}

fn check_absolute(check: &mut Checker, key: &str, path: &Path) {
    if !path.is_absolute() {
        let rule = Rule::NotAbsolute {
            value: path.display().to_string(),
        };
        check.push(key, &[], rule);
    }
}

/// `*`, or `sluice:` and 1–128 letters, digits and `*`.
fn is_action(action: &str) -> bool {
    action == "*"
        || action.strip_prefix("sluice:").is_some_and(|name| {
            super::spelled_with(name, 128, |c| c.is_ascii_alphanumeric() || c == '*')
        })
}

/// `*`, or `TYPE/NAME` with a known type and a name of letters, digits, `_ . : / * @ -`.
fn is_resource(resource: &str) -> bool {
    if resource == "*" {
        return true;
    }
    let Some((kind, name)) = resource.split_once('/') else {
        return false;
    };
    Management::RESOURCE_TYPES.contains(&kind)
        && super::spelled_with(name, 256, |c| {
            c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '/' | '*' | '@' | '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_resources_have_a_grammar() {
        assert!(is_action("*"));
        assert!(is_action("sluice:Describe*"));
        assert!(is_action("sluice:RegisterTargets"));
        assert!(!is_action("elasticloadbalancing:RegisterTargets"));
        assert!(!is_action("sluice:"));
        assert!(!is_action("sluice:Register Targets"));
        assert!(is_resource("*"));
        assert!(is_resource("targetgroup/appliances"));
        assert!(is_resource("endpoint/vpce-*"));
        assert!(!is_resource("targetgroups/appliances"));
        assert!(!is_resource("targetgroup/"));
    }
}
