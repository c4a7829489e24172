//! Tag subscription expressions (fact sheet §3.4, §6.1): `*` (or empty) means
//! every message; otherwise tags separated by `||`, trimmed, empty ones
//! dropped. The broker filters by the tags' Java hash codes, which can collide,
//! so the client re-checks each pulled message's TAGS string for equality.

use std::collections::BTreeSet;

use courier_remoting::body::SubscriptionData;

use crate::message::java_string_hash;

/// A parsed tag expression for one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topic: String,
    /// The expression as the user wrote it (`*` when empty).
    pub expression: String,
    /// Empty for `*`.
    pub tags: BTreeSet<String>,
    /// Version stamp sent with heartbeats and pulls (ms at creation).
    pub version: i64,
}

impl Subscription {
    /// Parses `expression` for `topic`.
    pub fn new(topic: impl Into<String>, expression: &str, version: i64) -> Self {
        let trimmed = expression.trim();
        let (expression, tags) = if trimmed.is_empty() || trimmed == "*" {
            ("*".to_string(), BTreeSet::new())
        } else {
            let tags: BTreeSet<String> = trimmed
                .split("||")
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect();
            if tags.is_empty() {
                ("*".to_string(), tags)
            } else {
                (trimmed.to_string(), tags)
            }
        };
        Subscription {
            topic: topic.into(),
            expression,
            tags,
            version,
        }
    }

    /// True for `*`.
    pub fn matches_all(&self) -> bool {
        self.tags.is_empty()
    }

    /// Whether a message with `tags` passes this subscription.
    pub fn matches(&self, tags: Option<&str>) -> bool {
        self.matches_all() || tags.is_some_and(|t| self.tags.contains(t))
    }

    /// The heartbeat form.
    pub fn to_data(&self) -> SubscriptionData {
        SubscriptionData {
            class_filter_mode: false,
            code_set: self.tags.iter().map(|t| java_string_hash(t)).collect(),
            expression_type: "TAG".to_string(),
            sub_string: self.expression.clone(),
            sub_version: self.version,
            tags_set: self.tags.iter().cloned().collect(),
            topic: self.topic.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_or_lists_and_wildcards() {
        let s = Subscription::new("T", " TagA ||TagB|| ", 1);
        assert_eq!(s.tags.len(), 2);
        assert!(s.matches(Some("TagA")) && s.matches(Some("TagB")));
        assert!(!s.matches(Some("TagC")) && !s.matches(None));
        let all = Subscription::new("T", "*", 1);
        assert!(all.matches(None) && all.matches(Some("x")));
        assert!(Subscription::new("T", "", 1).matches_all());
        assert_eq!(s.to_data().code_set.len(), 2);
    }
}
