//! Subscription filters: tag expressions (`*`, `TagA || TagB`) matched by the ConsumeQueue's tags
//! code, and SQL92 selectors (`a > 5 AND region = 'east'`, `courier-sql92`) matched against a
//! record's properties. `PullFilter` is what a pull and a parked pull carry.
//!
//! Invariants: tag codes are Java `String.hashCode` of each tag (UTF-16 units, wrapping i32),
//! sign-extended to i64 exactly as the store writes them into the ConsumeQueue; `*` or an empty
//! expression matches everything; retry topics (`%RETRY%group`) always match everything, because
//! redelivered messages keep their original tags while the retry subscription is `*`. The tag
//! check is a hash match only: clients re-check the tag string (hash collisions pass the broker).
//! An SQL92 selector is exact (clients do not re-check it); it is served only with
//! `enablePropertyFilter`, as a Java broker does, and compiled once per distinct text
//! (`SelectorCache`), not per pull.

use std::collections::HashMap;
use std::sync::Arc;

use courier_remoting::code::response;
use courier_sql92::{Encoded, Selector};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::topic_config::RETRY_GROUP_TOPIC_PREFIX;

/// The "match everything" expression.
pub const SUB_ALL: &str = "*";

/// A consumer's subscription to one topic, as carried in HEART_BEAT bodies.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionData {
    /// Subscribed topic.
    pub topic: String,
    /// The expression as the user wrote it.
    #[serde(default)]
    pub sub_string: String,
    /// Tags parsed from the expression (empty for `*`).
    #[serde(default)]
    pub tags_set: Vec<String>,
    /// Java hash codes of `tags_set`.
    #[serde(default)]
    pub code_set: Vec<i32>,
    /// "TAG" (default; ali-ons omits it) or "SQL92".
    #[serde(default = "default_expression_type")]
    pub expression_type: String,
    /// Subscription version (ms timestamp).
    #[serde(default)]
    pub sub_version: i64,
    /// Legacy filter-class mode.
    #[serde(default)]
    pub class_filter_mode: bool,
}

fn default_expression_type() -> String {
    EXPRESSION_TAG.to_string()
}

/// `expressionType` of tag subscriptions (also what an absent or empty type means).
pub const EXPRESSION_TAG: &str = "TAG";
/// `expressionType` of SQL92 property selectors.
pub const EXPRESSION_SQL92: &str = "SQL92";

/// Whether `expression_type` names the tag filter (absent and empty do too, as in Java).
pub fn is_tag_type(expression_type: &str) -> bool {
    expression_type.is_empty() || expression_type.eq_ignore_ascii_case(EXPRESSION_TAG)
}

impl SubscriptionData {
    /// Builds subscription data from a pull's expression and its type, as RocketMQ's
    /// `FilterAPI.build` does: a tag expression is parsed into tags and codes; any other type
    /// keeps the expression as it is (it is compiled by [`PullFilter::for_subscription`]).
    pub fn build_typed(
        topic: &str,
        expression: &str,
        expression_type: &str,
        sub_version: i64,
    ) -> Result<Self, String> {
        if is_tag_type(expression_type) {
            return Self::build(topic, expression, sub_version);
        }
        Ok(SubscriptionData {
            topic: topic.to_string(),
            sub_string: expression.to_string(),
            tags_set: Vec::new(),
            code_set: Vec::new(),
            expression_type: expression_type.to_string(),
            sub_version,
            class_filter_mode: false,
        })
    }

    /// Builds subscription data from a TAG expression, as RocketMQ's FilterAPI does.
    pub fn build(topic: &str, expression: &str, sub_version: i64) -> Result<Self, String> {
        let filter = TagFilter::parse(expression)?;
        Ok(SubscriptionData {
            topic: topic.to_string(),
            sub_string: if filter.all {
                SUB_ALL.to_string()
            } else {
                expression.to_string()
            },
            tags_set: filter.tags.clone(),
            code_set: filter.codes.iter().map(|c| *c as i32).collect(),
            expression_type: default_expression_type(),
            sub_version,
            class_filter_mode: false,
        })
    }
}

/// A parsed TAG filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagFilter {
    all: bool,
    tags: Vec<String>,
    codes: Vec<i64>,
}

/// Java's `String.hashCode`, sign-extended as the ConsumeQueue stores it.
pub fn tag_code(tag: &str) -> i64 {
    i64::from(courier_store::java_string_hash(tag))
}

impl TagFilter {
    /// Matches every message.
    pub fn all() -> TagFilter {
        TagFilter {
            all: true,
            tags: Vec::new(),
            codes: Vec::new(),
        }
    }

    /// Parses `*`, ``, or `A || B || C`. Errors (for SUBSCRIPTION_PARSE_FAILED) on an expression
    /// that has `||` but no tag.
    pub fn parse(expression: &str) -> Result<TagFilter, String> {
        let expr = expression.trim();
        if expr.is_empty() || expr == SUB_ALL {
            return Ok(TagFilter::all());
        }
        let mut tags = Vec::new();
        for part in expr.split("||") {
            let tag = part.trim();
            if tag.is_empty() {
                continue;
            }
            if !tags.iter().any(|t: &String| t == tag) {
                tags.push(tag.to_string());
            }
        }
        if tags.is_empty() {
            return Err(format!(
                "subscription expression {expression:?} has no tag; use \"*\" or \"TagA || TagB\""
            ));
        }
        let mut codes: Vec<i64> = tags.iter().map(|t| tag_code(t)).collect();
        codes.sort_unstable();
        codes.dedup();
        Ok(TagFilter {
            all: false,
            tags,
            codes,
        })
    }

    /// The filter of a tag subscription (the caller checked its type and the retry topic,
    /// [`PullFilter::for_subscription`]): `*` (or no tags) matches everything; otherwise its code
    /// set is used (falling back to parsing `subString` when the client sent no codes).
    fn for_subscription(sub: &SubscriptionData) -> Result<TagFilter, String> {
        if sub.sub_string.trim() == SUB_ALL || sub.sub_string.trim().is_empty() {
            return Ok(TagFilter::all());
        }
        if sub.code_set.is_empty() {
            return TagFilter::parse(&sub.sub_string);
        }
        let mut codes: Vec<i64> = sub.code_set.iter().map(|c| i64::from(*c)).collect();
        codes.sort_unstable();
        codes.dedup();
        Ok(TagFilter {
            all: false,
            tags: sub.tags_set.clone(),
            codes,
        })
    }

    /// True when the filter matches everything.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// The tag codes to pass to the store's `get_messages`, `None` for "all".
    pub fn codes(&self) -> Option<&[i64]> {
        if self.all {
            None
        } else {
            Some(&self.codes)
        }
    }

    /// The tags (empty for "all").
    pub fn tags(&self) -> &[String] {
        &self.tags
    }

    /// Broker-side check of a ConsumeQueue tags code.
    pub fn matches_code(&self, code: i64) -> bool {
        self.all || self.codes.binary_search(&code).is_ok()
    }
}

/// Java's remark for a filter type the broker does not serve.
fn unsupported(expression_type: &str) -> String {
    format!("The broker does not support consumer to filter message by {expression_type}")
}

/// Why a subscription gets no filter: the response code and remark a pull (or
/// CHECK_CLIENT_CONFIG) answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterRefused {
    pub code: i32,
    pub remark: String,
}

/// What a pull keeps.
#[derive(Clone, Debug)]
pub enum PullFilter {
    /// By the ConsumeQueue entry's tags code.
    Tag(TagFilter),
    /// By the record's properties.
    Sql92(Arc<Selector>),
}

impl PullFilter {
    /// Matches every message.
    pub fn all() -> PullFilter {
        PullFilter::Tag(TagFilter::all())
    }

    /// The filter for a pull on `topic` with this subscription. `property_filter` is the
    /// broker's `enablePropertyFilter`. Retry topics match everything (their subscription is the
    /// retry one, `*`). An SQL92 text that does not compile answers SUBSCRIPTION_PARSE_FAILED.
    pub fn for_subscription(
        topic: &str,
        sub: &SubscriptionData,
        property_filter: bool,
        selectors: &SelectorCache,
    ) -> Result<PullFilter, FilterRefused> {
        if topic.starts_with(RETRY_GROUP_TOPIC_PREFIX) {
            return Ok(PullFilter::all());
        }
        if is_tag_type(&sub.expression_type) {
            return TagFilter::for_subscription(sub)
                .map(PullFilter::Tag)
                .map_err(|remark| FilterRefused {
                    code: response::SYSTEM_ERROR,
                    remark,
                });
        }
        if !sub.expression_type.eq_ignore_ascii_case(EXPRESSION_SQL92) || !property_filter {
            return Err(FilterRefused {
                code: response::SYSTEM_ERROR,
                remark: unsupported(&sub.expression_type),
            });
        }
        selectors
            .compile(&sub.sub_string)
            .map(PullFilter::Sql92)
            .map_err(|e| FilterRefused {
                code: response::SUBSCRIPTION_PARSE_FAILED,
                remark: e.to_string(),
            })
    }

    /// The tag codes to pass to the store, `None` for "all" and for SQL92.
    pub fn codes(&self) -> Option<&[i64]> {
        match self {
            PullFilter::Tag(t) => t.codes(),
            PullFilter::Sql92(_) => None,
        }
    }

    /// The first stage: a ConsumeQueue entry's tags code (SQL92 cannot tell from it).
    pub fn matches_code(&self, code: i64) -> bool {
        match self {
            PullFilter::Tag(t) => t.matches_code(code),
            PullFilter::Sql92(_) => true,
        }
    }

    /// The second stage: a record's encoded properties (tag filters took their decision already).
    pub fn matches_properties(&self, properties: &str) -> bool {
        match self {
            PullFilter::Tag(_) => true,
            PullFilter::Sql92(s) => s.matches(&Encoded(properties)),
        }
    }

    /// Whether the second stage can reject anything, i.e. a read must look at properties.
    pub fn reads_properties(&self) -> bool {
        matches!(self, PullFilter::Sql92(_))
    }
}

/// Most distinct selector texts kept compiled; past it the cache starts over (a consumer's text
/// changes rarely, and a compile is microseconds).
const SELECTOR_CACHE_MAX: usize = 1024;

/// Compiled SQL92 selectors by their text, so that pulls of a group (whose subscription travels
/// with every pull of a pull consumer) do not compile it each time.
#[derive(Default)]
pub struct SelectorCache {
    compiled: Mutex<HashMap<String, Arc<Selector>>>,
}

impl SelectorCache {
    /// The compiled selector for `text`.
    pub fn compile(&self, text: &str) -> Result<Arc<Selector>, courier_sql92::ParseError> {
        if let Some(s) = self.compiled.lock().get(text) {
            return Ok(s.clone());
        }
        let selector = Arc::new(Selector::parse(text)?);
        let mut compiled = self.compiled.lock();
        if compiled.len() >= SELECTOR_CACHE_MAX {
            compiled.clear();
        }
        compiled.insert(text.to_string(), selector.clone());
        Ok(selector)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_and_empty_match_everything() {
        for e in ["*", "", "  * "] {
            let f = TagFilter::parse(e).unwrap();
            assert!(f.is_all());
            assert!(f.matches_code(12345));
            assert!(f.codes().is_none());
        }
    }

    #[test]
    fn tag_list_uses_java_hash() {
        let f = TagFilter::parse("TagA || TagB||TagA").unwrap();
        assert_eq!(f.tags(), &["TagA".to_string(), "TagB".to_string()]);
        assert!(f.matches_code(2598919), "TagA hashes to 2598919 in Java");
        assert!(f.matches_code(tag_code("TagB")));
        assert!(!f.matches_code(tag_code("TagC")));
        assert!(
            !f.matches_code(0),
            "untagged messages do not match a tag list"
        );
        assert_eq!(f.codes().unwrap().len(), 2);
    }

    #[test]
    fn negative_hash_codes_are_sign_extended() {
        // "TagAAAAAAAAA" overflows i32 in Java's hash and is negative.
        let tag = "TagAAAAAAAAA";
        let code = courier_store::java_string_hash(tag);
        let f = TagFilter::parse(tag).unwrap();
        assert!(f.matches_code(i64::from(code)));
    }

    #[test]
    fn bad_expression_is_an_error() {
        assert!(TagFilter::parse("||").is_err());
        assert!(TagFilter::parse(" || ").is_err());
    }

    #[test]
    fn retry_topics_always_match() {
        let sub = SubscriptionData::build("%RETRY%g", "TagA", 1).unwrap();
        let f = PullFilter::for_subscription("%RETRY%g", &sub, false, &SelectorCache::default())
            .unwrap();
        assert!(matches!(f, PullFilter::Tag(t) if t.is_all()));
    }

    #[test]
    fn subscription_from_heartbeat_json_defaults_expression_type() {
        // ali-ons omits expressionType.
        let sub: SubscriptionData = serde_json::from_str(
            r#"{"topic":"T","subString":"TagA || TagB","tagsSet":["TagA","TagB"],"codeSet":[2598919,2598920],"subVersion":1}"#,
        )
        .unwrap();
        assert_eq!(sub.expression_type, "TAG");
        let selectors = SelectorCache::default();
        let f = PullFilter::for_subscription("T", &sub, false, &selectors).unwrap();
        assert!(f.matches_code(2598919));
        assert!(!f.matches_code(1));
        let sql = SubscriptionData {
            expression_type: "SQL92".into(),
            ..sub
        };
        assert!(PullFilter::for_subscription("T", &sql, false, &selectors)
            .unwrap_err()
            .remark
            .contains("SQL92"));
    }

    #[test]
    fn build_matches_java_shape() {
        let s = SubscriptionData::build("T", "TagA || TagB", 7).unwrap();
        assert_eq!(s.tags_set, vec!["TagA", "TagB"]);
        assert!(s.code_set.contains(&2598919));
        let all = SubscriptionData::build("T", "", 7).unwrap();
        assert_eq!(all.sub_string, "*");
        assert!(all.tags_set.is_empty());
    }
}
