//! Subscription expressions (fact sheet §3.4, §6): tag expressions and SQL92 selectors.
//!
//! A tag expression is `*` (or empty: every message) or tags separated by `||`, trimmed, empty
//! ones dropped. The broker filters by the tags' Java hash codes, which can collide, so the
//! client re-checks each pulled message's TAGS string for equality. An SQL92 selector
//! (`a > 5 AND region = 'east'`) is evaluated by the broker on the message's properties, exactly,
//! so the client takes what it is given (as Java's client does); the broker must have
//! `enablePropertyFilter` on.

use std::collections::BTreeSet;

use courier_remoting::body::SubscriptionData;

use crate::message::java_string_hash;

/// How a consumer selects a topic's messages (Java's `MessageSelector`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageSelector {
    /// A tag expression: `*`, `TagA`, `TagA || TagB`.
    Tag(String),
    /// An SQL92 selector over message properties, e.g. `a > 5 AND region = 'east'`.
    Sql92(String),
}

impl MessageSelector {
    /// Selects by tags.
    pub fn by_tag(expression: impl Into<String>) -> Self {
        MessageSelector::Tag(expression.into())
    }

    /// Selects by an SQL92 expression over properties.
    pub fn by_sql(expression: impl Into<String>) -> Self {
        MessageSelector::Sql92(expression.into())
    }

    /// The `expressionType` sent to the broker.
    pub fn expression_type(&self) -> &'static str {
        match self {
            MessageSelector::Tag(_) => EXPRESSION_TAG,
            MessageSelector::Sql92(_) => EXPRESSION_SQL92,
        }
    }
}

/// `expressionType` of tag expressions.
pub const EXPRESSION_TAG: &str = "TAG";
/// `expressionType` of SQL92 selectors.
pub const EXPRESSION_SQL92: &str = "SQL92";

/// A parsed subscription to one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub topic: String,
    /// The expression as the user wrote it (`*` when an empty tag expression).
    pub expression: String,
    /// Empty for `*` and for SQL92.
    pub tags: BTreeSet<String>,
    /// Version stamp sent with heartbeats and pulls (ms at creation).
    pub version: i64,
    /// True for an SQL92 selector.
    pub sql92: bool,
}

impl Subscription {
    /// The subscription `selector` makes for `topic`.
    pub fn with_selector(
        topic: impl Into<String>,
        selector: &MessageSelector,
        version: i64,
    ) -> Self {
        match selector {
            MessageSelector::Tag(e) => Subscription::new(topic, e, version),
            MessageSelector::Sql92(e) => Subscription {
                topic: topic.into(),
                expression: e.trim().to_string(),
                tags: BTreeSet::new(),
                version,
                sql92: true,
            },
        }
    }

    /// The `expressionType` sent to the broker.
    pub fn expression_type(&self) -> &'static str {
        if self.sql92 {
            EXPRESSION_SQL92
        } else {
            EXPRESSION_TAG
        }
    }

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
            sql92: false,
        }
    }

    /// True for `*`, and for an SQL92 selector (the broker applied it).
    pub fn matches_all(&self) -> bool {
        self.tags.is_empty()
    }

    /// Whether a message with `tags` passes this subscription's client-side check.
    pub fn matches(&self, tags: Option<&str>) -> bool {
        self.matches_all() || tags.is_some_and(|t| self.tags.contains(t))
    }

    /// The heartbeat form.
    pub fn to_data(&self) -> SubscriptionData {
        SubscriptionData {
            class_filter_mode: false,
            code_set: self.tags.iter().map(|t| java_string_hash(t)).collect(),
            expression_type: self.expression_type().to_string(),
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
        assert_eq!(s.to_data().expression_type, "TAG");
    }

    #[test]
    fn sql92_selectors_are_sent_as_written_and_not_rechecked() {
        let s = Subscription::with_selector("T", &MessageSelector::by_sql(" a > 5 || x "), 7);
        assert!(s.sql92);
        assert_eq!(
            s.expression, "a > 5 || x",
            "not split on || as a tag list would be"
        );
        assert!(s.matches(None) && s.matches(Some("any")));
        let d = s.to_data();
        assert_eq!(d.expression_type, "SQL92");
        assert_eq!(d.sub_string, "a > 5 || x");
        assert!(d.tags_set.is_empty() && d.code_set.is_empty());
        let t = Subscription::with_selector("T", &MessageSelector::by_tag("A || B"), 7);
        assert_eq!((t.sql92, t.tags.len()), (false, 2));
    }
}
