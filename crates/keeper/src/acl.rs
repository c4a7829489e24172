//! ACL evaluation and fix-up (spec §9): which identities a connection holds, whether an ACL
//! grants a permission to them, the `digest` id derivation and the create/setACL input rules.
//!
//! A check passes when any ACL entry whose permission bits intersect the requested bits matches
//! one of the caller's ids; an empty ACL passes; a `super` id passes everything.

use std::net::IpAddr;

use base64::Engine;
use courier_keeper_proto::{Acl, ErrorCode, Id};
use sha1::{Digest, Sha1};

/// The `digest` scheme id for `user:password`: `user:BASE64(SHA1("user:password"))`.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Does `ids` satisfy `perm` (any of its bits) under `acl`?
pub fn allowed(acl: &[Acl], perm: i32, ids: &[Id]) -> bool {
    if acl.is_empty() || ids.iter().any(|i| i.scheme == "super") {
        return true;
    }
    acl.iter().any(|entry| {
        entry.perms & perm != 0
            && (match entry.id.scheme.as_str() {
                "world" => entry.id.id == "anyone",
                "ip" => ids
                    .iter()
                    .any(|i| i.scheme == "ip" && ip_matches(&entry.id.id, &i.id)),
                _ => ids.contains(&entry.id),
            })
    })
}

/// Parses `addr` or `addr/bits`.
fn parse_ip_pattern(pattern: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match pattern.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u32>().ok()?)),
        None => (pattern, None),
    };
    let addr: IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(max);
    if bits > max {
        return None;
    }
    Some((addr, bits))
}

fn ip_matches(pattern: &str, client: &str) -> bool {
    let (Some((net, bits)), Ok(client)) = (parse_ip_pattern(pattern), client.parse::<IpAddr>())
    else {
        return false;
    };
    match (net, client) {
        (IpAddr::V4(n), IpAddr::V4(c)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits)
            };
            u32::from(n) & mask == u32::from(c) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(c)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits)
            };
            u128::from(n) & mask == u128::from(c) & mask
        }
        _ => false,
    }
}

/// Validates and expands an ACL given to create or setACL: `auth` entries become the caller's
/// authenticated ids; an empty list, an unknown scheme or a malformed id is INVALIDACL.
pub fn fix_up(acl: &[Acl], ids: &[Id]) -> Result<Vec<Acl>, ErrorCode> {
    if acl.is_empty() {
        return Err(ErrorCode::InvalidAcl);
    }
    let mut out: Vec<Acl> = Vec::with_capacity(acl.len());
    for entry in acl {
        match entry.id.scheme.as_str() {
            "world" => {
                if entry.id.id != "anyone" {
                    return Err(ErrorCode::InvalidAcl);
                }
                push_unique(&mut out, entry.clone());
            }
            "auth" => {
                let mut any = false;
                for id in ids
                    .iter()
                    .filter(|i| i.scheme != "ip" && i.scheme != "world")
                {
                    any = true;
                    push_unique(
                        &mut out,
                        Acl {
                            perms: entry.perms,
                            id: id.clone(),
                        },
                    );
                }
                if !any {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            "digest" => {
                if entry.id.id.split(':').count() != 2 {
                    return Err(ErrorCode::InvalidAcl);
                }
                push_unique(&mut out, entry.clone());
            }
            "ip" => {
                if parse_ip_pattern(&entry.id.id).is_none() {
                    return Err(ErrorCode::InvalidAcl);
                }
                push_unique(&mut out, entry.clone());
            }
            "super" => push_unique(&mut out, entry.clone()),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    Ok(out)
}

fn push_unique(out: &mut Vec<Acl>, acl: Acl) {
    if !out.contains(&acl) {
        out.push(acl);
    }
}

/// getACL without ADMIN shows digest ids as `user:x`.
pub fn redact(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or("");
                Acl {
                    perms: a.perms,
                    id: Id {
                        scheme: "digest".into(),
                        id: format!("{user}:x"),
                    },
                }
            } else {
                a.clone()
            }
        })
        .collect()
}

/// `[(31, world:anyone)]`.
pub fn open_acl() -> Vec<Acl> {
    vec![Acl {
        perms: courier_keeper_proto::perms::ALL,
        id: Id {
            scheme: "world".into(),
            id: "anyone".into(),
        },
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_keeper_proto::perms;

    fn id(s: &str, i: &str) -> Id {
        Id {
            scheme: s.into(),
            id: i.into(),
        }
    }

    #[test]
    fn digest_matches_zookeeper() {
        // Known pair from ZooKeeper's documentation examples.
        assert_eq!(
            digest_id("super:admin"),
            "super:xQJmxLMiHGwaqBvst5y6rkB6HQs="
        );
    }

    #[test]
    fn checks() {
        let acl = vec![
            Acl {
                perms: perms::READ,
                id: id("world", "anyone"),
            },
            Acl {
                perms: perms::ALL,
                id: id("digest", "u:h"),
            },
            Acl {
                perms: perms::WRITE,
                id: id("ip", "10.0.0.0/8"),
            },
        ];
        let anon = [id("ip", "127.0.0.1")];
        assert!(allowed(&acl, perms::READ, &anon));
        assert!(!allowed(&acl, perms::WRITE, &anon));
        assert!(allowed(&acl, perms::WRITE, &[id("ip", "10.1.2.3")]));
        assert!(allowed(&acl, perms::DELETE, &[id("digest", "u:h")]));
        assert!(allowed(&acl, perms::DELETE, &[id("super", "")]));
        assert!(allowed(&[], perms::DELETE, &anon));
    }

    #[test]
    fn fix_up_rules() {
        let auth = vec![Acl {
            perms: 31,
            id: id("auth", ""),
        }];
        assert_eq!(
            fix_up(&auth, &[id("ip", "127.0.0.1")]),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fix_up(&auth, &[id("digest", "u:h")]).unwrap(),
            vec![Acl {
                perms: 31,
                id: id("digest", "u:h")
            }]
        );
        assert_eq!(fix_up(&[], &[]), Err(ErrorCode::InvalidAcl));
        assert_eq!(
            fix_up(
                &[Acl {
                    perms: 1,
                    id: id("nope", "x")
                }],
                &[]
            ),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fix_up(
                &[Acl {
                    perms: 1,
                    id: id("world", "someone")
                }],
                &[]
            ),
            Err(ErrorCode::InvalidAcl)
        );
    }
}
