//! Who is calling and what they may do: bearer-token authentication and IAM-style
//! authorization of management API requests.
//!
//! # Authentication
//!
//! A request carries `Authorization: Bearer <token>`. The token is hashed with SHA-256 and
//! the digest compared with the `token_sha256` of **every** principal in constant time
//! ([`subtle`]), so how long the check takes says nothing about which principal, or how
//! many digest bytes, matched. The digest is ring's ([`ring::digest`]): ring is already
//! built as rustls's crypto provider, so it costs no second SHA-256 implementation and no
//! new crate. A principal whose `expires` has passed authenticates as nobody.
//!
//! | Request | Status | Code |
//! |---|---|---|
//! | no `Authorization`, not `Bearer`, or an empty or garbled token | 401 | `MissingAuthenticationToken` |
//! | a token whose digest matches no principal | 401 | `InvalidClientTokenId` |
//! | the token of a principal past its `expires` | 401 | `ExpiredToken` |
//!
//! # Authorization
//!
//! IAM's evaluation: of the `[[management.policy]]` statements, those whose `principals`
//! name the caller (or are `*`), one of whose `actions` matches `sluice:<Action>` and one of
//! whose `resources` matches the request's resource ([`super::resource_for`]) apply. Any
//! applying `deny` refuses the request; otherwise any applying `allow` grants it; otherwise
//! it is refused (`403 AccessDenied`). Patterns are case-sensitive, and `*` matches any run
//! of characters, including none ([`wildcard_match`]).
//!
//! Everything here is a pure function of its inputs (the current time is an argument), so
//! every case is unit-tested without a socket or a clock.

use std::fmt;

use ring::digest::{SHA256, digest};
use sluice_config::schema::management::{AccessPolicy, Effect, Management, Timestamp};
use subtle::{ConditionallySelectable as _, ConstantTimeEq as _};

use super::ApiError;

/// The length of a SHA-256 digest.
const DIGEST_LEN: usize = 32;

/// The principals and policies of `[management]`, ready to check requests against.
#[derive(Clone)]
pub struct AccessControl {
    credentials: Vec<Credential>,
    policies: Vec<AccessPolicy>,
}

/// A principal's name, token digest and expiry.
#[derive(Clone)]
struct Credential {
    name: String,
    digest: [u8; DIGEST_LEN],
    expires: Option<Timestamp>,
}

/// The outcome of evaluating the policies for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An applying `allow` and no applying `deny`.
    Allowed,
    /// An applying `deny`, which wins over any `allow`.
    ExplicitDeny,
    /// No applying statement: denied by default.
    ImplicitDeny,
}

impl AccessControl {
    /// The access control of `management`'s principals and policies.
    ///
    /// A principal whose `token_sha256` is not 64 hex digits (which validation refuses) can
    /// never authenticate.
    pub fn new(management: &Management) -> Self {
        let credentials = management
            .principals
            .iter()
            .filter_map(|p| {
                Some(Credential {
                    name: p.name.clone(),
                    digest: parse_hex_digest(&p.token_sha256)?,
                    expires: p.expires,
                })
            })
            .collect();
        Self {
            credentials,
            policies: management.policies.clone(),
        }
    }

    /// The principal that the `Authorization` header value `authorization` authenticates at
    /// `now_unix` (seconds since the Unix epoch).
    ///
    /// # Errors
    ///
    /// A `401` [`ApiError`]: `MissingAuthenticationToken`, `InvalidClientTokenId` or
    /// `ExpiredToken` (see the module documentation).
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        now_unix: u64,
    ) -> Result<&str, ApiError> {
        let Some(token) = authorization.and_then(bearer_token) else {
            return Err(ApiError::new(
                401,
                "MissingAuthenticationToken",
                "the request has no bearer token: send the header `Authorization: Bearer <token>`",
            ));
        };
        let presented = token_digest(token);
        // Compare with every principal, whatever matched before, and select the match
        // without a branch: the time taken depends only on the number of principals.
        let mut found = u32::MAX;
        for (i, credential) in self.credentials.iter().enumerate() {
            let index = u32::try_from(i).unwrap_or(u32::MAX);
            let equal = credential.digest[..].ct_eq(&presented[..]);
            found.conditional_assign(&index, equal);
        }
        let Some(credential) = usize::try_from(found)
            .ok()
            .and_then(|i| self.credentials.get(i))
        else {
            return Err(ApiError::new(
                401,
                "InvalidClientTokenId",
                "the bearer token matches no principal: check the token, or ask an administrator \
                 for the principal's entry in [[management.principal]]",
            ));
        };
        match credential.expires {
            Some(expires) if now_unix >= expires.unix_seconds() => Err(ApiError::new(
                401,
                "ExpiredToken",
                format!(
                    "the token of principal \"{}\" expired at {expires}: ask an administrator \
                     for a new token",
                    credential.name
                ),
            )),
            _ => Ok(&credential.name),
        }
    }

    /// Whether `principal` may perform `action` (an operation name such as
    /// `RegisterTargets`) on `resource` (such as `targetgroup/appliances`).
    ///
    /// # Errors
    ///
    /// `403 AccessDenied`, naming the principal, the action and the resource, when a policy
    /// denies it explicitly or none allows it.
    pub fn authorize(&self, principal: &str, action: &str, resource: &str) -> Result<(), ApiError> {
        let why = match evaluate(&self.policies, principal, action, resource) {
            Decision::Allowed => return Ok(()),
            Decision::ExplicitDeny => "a policy denies it explicitly",
            Decision::ImplicitDeny => "no policy allows it",
        };
        Err(ApiError::new(
            403,
            "AccessDenied",
            format!(
                "principal \"{principal}\" is not authorized to perform sluice:{action} on \
                 resource {resource}: {why}"
            ),
        ))
    }
}

impl fmt::Debug for AccessControl {
    /// Names and expiries only: digests stay out of logs and panics.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessControl")
            .field(
                "principals",
                &self
                    .credentials
                    .iter()
                    .map(|c| (c.name.as_str(), c.expires.map(|e| e.to_string())))
                    .collect::<Vec<_>>(),
            )
            .field("policies", &self.policies.len())
            .finish()
    }
}

/// The token of an `Authorization` header value `Bearer <token>` (the scheme in any case,
/// the token one or more visible ASCII characters), or `None`.
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let value = authorization.trim_matches([' ', '\t']);
    let (scheme, token) = value.split_once([' ', '\t'])?;
    let token = token.trim_start_matches([' ', '\t']);
    let visible = |b: u8| b.is_ascii_graphic();
    (scheme.eq_ignore_ascii_case("Bearer") && !token.is_empty() && token.bytes().all(visible))
        .then_some(token)
}

/// The SHA-256 digest of `token`, as configured in `token_sha256` (there in hex).
pub fn token_digest(token: &str) -> [u8; DIGEST_LEN] {
    let mut out = [0_u8; DIGEST_LEN];
    out.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    out
}

/// The policies' decision for `principal` performing `action` (an operation name, matched
/// as `sluice:<action>`) on `resource`.
pub fn evaluate(
    policies: &[AccessPolicy],
    principal: &str,
    action: &str,
    resource: &str,
) -> Decision {
    let qualified = format!("sluice:{action}");
    let applies = |p: &&AccessPolicy| {
        p.principals.iter().any(|n| n == "*" || n == principal)
            && p.actions.iter().any(|a| wildcard_match(a, &qualified))
            && p.resources.iter().any(|r| wildcard_match(r, resource))
    };
    let mut allowed = false;
    for policy in policies.iter().filter(applies) {
        match policy.effect {
            Effect::Deny => return Decision::ExplicitDeny,
            Effect::Allow => allowed = true,
        }
    }
    if allowed {
        Decision::Allowed
    } else {
        Decision::ImplicitDeny
    }
}

/// Whether `text` matches `pattern`, in which `*` stands for any run of characters
/// (including none) and everything else for itself, case-sensitively.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    // After the last `*` seen: where the pattern resumes and the text position it was tried
    // at; on a mismatch the `*` swallows one more character.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                pi += 1;
                star = Some((pi, ti));
            }
            Some(&c) if c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((resume, tried)) => {
                    pi = resume;
                    ti = tried + 1;
                    star = Some((resume, tried + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// 64 hex digits as 32 bytes.
fn parse_hex_digest(hex: &str) -> Option<[u8; DIGEST_LEN]> {
    let hex = hex.as_bytes();
    if hex.len() != 2 * DIGEST_LEN {
        return None;
    }
    let nibble = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    let mut out = [0_u8; DIGEST_LEN];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_config::schema::management::Principal;

    /// `printf %s example-operator-token | sha256sum`, as in the example configuration.
    const OPERATOR_SHA256: &str =
        "cadaee6d96cfc6f48b78f8783c9493f48be29ff3e90ac85c219f014cb73b1eae";

    fn hex(digest: [u8; DIGEST_LEN]) -> String {
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn principal(name: &str, token: &str, expires: Option<u64>) -> Principal {
        Principal {
            name: name.into(),
            token_sha256: hex(token_digest(token)),
            expires: expires.and_then(Timestamp::from_unix_seconds),
        }
    }

    fn policy(
        principals: &[&str],
        effect: Effect,
        actions: &[&str],
        resources: &[&str],
    ) -> AccessPolicy {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        AccessPolicy {
            principals: owned(principals),
            effect,
            actions: owned(actions),
            resources: owned(resources),
        }
    }

    fn management(principals: Vec<Principal>, policies: Vec<AccessPolicy>) -> Management {
        Management {
            principals,
            policies,
            ..Management::defaults_for("/etc/sluice/gateway.toml")
        }
    }

    #[test]
    fn digests_are_sha256_as_configured() {
        assert_eq!(hex(token_digest("example-operator-token")), OPERATOR_SHA256);
        assert_eq!(
            hex(token_digest("")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            parse_hex_digest(OPERATOR_SHA256),
            Some(token_digest("example-operator-token"))
        );
        assert_eq!(
            parse_hex_digest(&OPERATOR_SHA256.to_uppercase()),
            Some(token_digest("example-operator-token"))
        );
        assert_eq!(parse_hex_digest(&OPERATOR_SHA256[1..]), None);
        assert_eq!(
            parse_hex_digest(&format!("{}g", &OPERATOR_SHA256[1..])),
            None
        );
    }

    #[test]
    fn bearer_tokens_are_parsed_strictly() {
        for (header, token) in [
            ("Bearer abc", Some("abc")),
            ("bearer abc", Some("abc")),
            ("BEARER   a.b-c_d~e+f/g==", Some("a.b-c_d~e+f/g==")),
            ("  Bearer abc\t", Some("abc")),
            ("Bearer\tabc", Some("abc")),
            ("Bearer", None),
            ("Bearer ", None),
            ("Bearer a b", None),
            ("Basic abc", None),
            ("Bearerabc", None),
            ("abc", None),
            ("", None),
            ("Bearer abcé", None),
        ] {
            assert_eq!(bearer_token(header), token, "{header:?}");
        }
    }

    #[test]
    fn authentication_compares_every_principal() {
        let access = AccessControl::new(&management(
            vec![
                principal("alice", "alice-token", None),
                principal("bob", "bob-token", Some(2_000)),
                principal("carol", "carol-token", Some(1_000)),
                Principal {
                    name: "broken".into(),
                    token_sha256: "not a digest".into(),
                    expires: None,
                },
            ],
            Vec::new(),
        ));
        let auth = |header: Option<&str>| access.authenticate(header, 1_500).map(str::to_owned);
        assert_eq!(auth(Some("Bearer alice-token")), Ok("alice".into()));
        assert_eq!(auth(Some("Bearer bob-token")), Ok("bob".into()));
        let code = |header: Option<&str>| auth(header).map_err(|e| (e.status, e.code));
        let expect = |code: &str| Err((401, code.to_owned()));
        assert_eq!(code(Some("Bearer carol-token")), expect("ExpiredToken"));
        assert_eq!(
            code(Some("Bearer dave-token")),
            expect("InvalidClientTokenId")
        );
        assert_eq!(
            code(Some("Bearer alice-token2")),
            expect("InvalidClientTokenId")
        );
        assert_eq!(
            code(Some("Bearer not a digest")),
            expect("MissingAuthenticationToken")
        );
        assert_eq!(
            code(Some("Basic alice-token")),
            expect("MissingAuthenticationToken")
        );
        assert_eq!(code(None), expect("MissingAuthenticationToken"));
        // Expiry is the first second the token no longer works.
        assert!(access.authenticate(Some("Bearer bob-token"), 1_999).is_ok());
        let at_expiry = access.authenticate(Some("Bearer bob-token"), 2_000);
        let error = at_expiry.err().map(|e| e.message).unwrap_or_default();
        assert!(
            error.contains("\"bob\" expired at 1970-01-01T00:33:20Z"),
            "{error}"
        );
        // The digest never appears in debug output.
        let shown = format!("{access:?}");
        assert!(shown.contains("alice") && !shown.contains(&hex(token_digest("alice-token"))));
    }

    #[test]
    fn wildcards_match_runs_of_characters() {
        for (pattern, text, matches) in [
            ("*", "", true),
            ("*", "anything/at all", true),
            ("", "", true),
            ("", "a", false),
            ("abc", "abc", true),
            ("abc", "abd", false),
            ("abc", "ABC", false),
            ("abc", "abcd", false),
            ("abcd", "abc", false),
            ("sluice:Describe*", "sluice:DescribeFlows", true),
            ("sluice:Describe*", "sluice:Describe", true),
            ("sluice:Describe*", "sluice:describeFlows", false),
            ("sluice:*Targets", "sluice:RegisterTargets", true),
            ("sluice:*Targets", "sluice:DescribeTargetHealth", false),
            ("sluice:*Target*", "sluice:DescribeTargetHealth", true),
            ("*/fw", "targetgroup/fw", true),
            ("targetgroup/*", "targetgroup/fw", true),
            ("targetgroup/*", "listener/fw", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbYcZ", false),
            ("a*b*c", "acb", false),
            ("a**c", "abbc", true),
            ("*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false),
            ("*ab", "aab", true),
            ("é*", "été", true),
        ] {
            assert_eq!(
                wildcard_match(pattern, text),
                matches,
                "{pattern} vs {text}"
            );
        }
    }

    /// Every combination of statements that can apply to a request, and the decision.
    #[test]
    fn an_explicit_deny_wins_and_nothing_means_deny() {
        use Decision::{Allowed, ExplicitDeny, ImplicitDeny};
        use Effect::{Allow, Deny};
        let action = "RegisterTargets";
        let resource = "targetgroup/fw";
        let allow = policy(
            &["alice"],
            Allow,
            &["sluice:RegisterTargets"],
            &["targetgroup/fw"],
        );
        let deny = policy(&["alice"], Deny, &["sluice:*"], &["*"]);
        let decide = |policies: &[AccessPolicy]| evaluate(policies, "alice", action, resource);
        assert_eq!(decide(&[]), ImplicitDeny);
        assert_eq!(decide(std::slice::from_ref(&allow)), Allowed);
        assert_eq!(decide(std::slice::from_ref(&deny)), ExplicitDeny);
        assert_eq!(decide(&[allow.clone(), deny.clone()]), ExplicitDeny);
        assert_eq!(decide(&[deny.clone(), allow.clone()]), ExplicitDeny);

        // A statement applies only when principal, action and resource all match.
        for (why, statement) in [
            ("other principal", policy(&["bob"], Allow, &["*"], &["*"])),
            (
                "other action",
                policy(&["alice"], Allow, &["sluice:DeregisterTargets"], &["*"]),
            ),
            (
                "action without prefix",
                policy(&["alice"], Allow, &["RegisterTargets"], &["*"]),
            ),
            (
                "action in other case",
                policy(&["alice"], Allow, &["sluice:registertargets"], &["*"]),
            ),
            (
                "other resource",
                policy(&["alice"], Allow, &["*"], &["targetgroup/other"]),
            ),
            (
                "other resource type",
                policy(&["alice"], Allow, &["*"], &["listener/*"]),
            ),
        ] {
            assert_eq!(
                decide(std::slice::from_ref(&statement)),
                ImplicitDeny,
                "{why}"
            );
            // ... and so does not deny either.
            let as_deny = AccessPolicy {
                effect: Deny,
                ..statement
            };
            assert_eq!(
                decide(&[allow.clone(), as_deny]),
                Allowed,
                "deny with {why}"
            );
        }
        for (why, statement) in [
            (
                "wildcard principal",
                policy(&["*"], Allow, &["sluice:RegisterTargets"], &["*"]),
            ),
            (
                "listed principal",
                policy(&["bob", "alice"], Allow, &["*"], &["*"]),
            ),
            (
                "wildcard action",
                policy(&["alice"], Allow, &["*"], &["targetgroup/fw"]),
            ),
            (
                "action pattern",
                policy(&["alice"], Allow, &["sluice:*Targets"], &["*"]),
            ),
            (
                "second action",
                policy(&["alice"], Allow, &["sluice:X", "sluice:Register*"], &["*"]),
            ),
            (
                "resource pattern",
                policy(&["alice"], Allow, &["*"], &["targetgroup/*"]),
            ),
            (
                "second resource",
                policy(&["alice"], Allow, &["*"], &["listener/x", "*/fw"]),
            ),
        ] {
            assert_eq!(decide(std::slice::from_ref(&statement)), Allowed, "{why}");
            let as_deny = AccessPolicy {
                effect: Deny,
                ..statement
            };
            assert_eq!(
                decide(&[allow.clone(), as_deny]),
                ExplicitDeny,
                "deny with {why}"
            );
        }
    }

    #[test]
    fn denials_name_principal_action_and_resource() {
        let access = AccessControl::new(&management(
            vec![principal("alice", "a", None), principal("bob", "b", None)],
            vec![
                policy(&["*"], Effect::Allow, &["sluice:Describe*"], &["*"]),
                policy(&["bob"], Effect::Deny, &["sluice:DescribeFlows"], &["*"]),
            ],
        ));
        assert_eq!(
            access.authorize("alice", "DescribeFlows", "loadbalancer/edge"),
            Ok(())
        );
        let denied = access
            .authorize("bob", "DescribeFlows", "loadbalancer/edge")
            .err();
        assert_eq!(
            denied,
            Some(ApiError::new(
                403,
                "AccessDenied",
                "principal \"bob\" is not authorized to perform sluice:DescribeFlows on resource \
                 loadbalancer/edge: a policy denies it explicitly"
            ))
        );
        let denied = access
            .authorize("alice", "RegisterTargets", "targetgroup/fw")
            .err();
        let message = denied.map(|e| e.message).unwrap_or_default();
        assert!(
            message.ends_with("on resource targetgroup/fw: no policy allows it"),
            "{message}"
        );
    }
}
