//! Property tests of the bodies written in fastjson's object-keyed form: a consumer's running
//! info and an offset reset round-trip whatever their strings hold (quotes, braces, colons and
//! non-ASCII text in topics, broker names and properties), and arbitrary bytes given to their
//! readers are an error or a value, never a panic. The broker configuration's properties text
//! (GET/UPDATE_BROKER_CONFIG) round-trips any keys and values, and any text reads without a panic.
//! The consumer-status, broker-consume-stats and consume-time-span bodies round-trip too, and
//! arbitrary bytes given to their readers never panic.

use std::collections::BTreeMap;

use courier_remoting::body::{
    read_properties, write_properties, ConsumeStats, ConsumeStatsList, ConsumeStatus,
    ConsumerRunningInfo, GetConsumerStatusBody, MessageQueue, OffsetWrapper, ProcessQueueInfo,
    QueryConsumeTimeSpanBody, QueueTimeSpan, ResetOffsetBody, SubscriptionData,
};
use proptest::prelude::*;

/// Text with the characters that matter to a JSON writer and to fastjson's key form.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9%_ {}:,\"\\\\é漢-]{0,12}"
}

fn queue() -> impl Strategy<Value = MessageQueue> {
    (text(), text(), any::<i32>()).prop_map(|(topic, broker_name, queue_id)| MessageQueue {
        topic,
        broker_name,
        queue_id,
    })
}

fn process_queue() -> impl Strategy<Value = ProcessQueueInfo> {
    (
        any::<i64>(),
        any::<i32>(),
        any::<i64>(),
        any::<bool>(),
        any::<bool>(),
        any::<i64>(),
    )
        .prop_map(
            |(commit_offset, cached, at, locked, droped, ts)| ProcessQueueInfo {
                commit_offset,
                cached_msg_count: cached,
                cached_msg_min_offset: at,
                cached_msg_max_offset: at.saturating_add(1),
                locked,
                droped,
                last_pull_timestamp: ts,
                ..Default::default()
            },
        )
}

fn status() -> impl Strategy<Value = ConsumeStatus> {
    let rate = || -1e12f64..1e12;
    (rate(), rate(), rate(), rate(), rate(), any::<i64>()).prop_map(
        |(pull_tps, pull_rt, ok, failed, rt, failed_msgs)| ConsumeStatus {
            pull_tps,
            pull_rt,
            consume_ok_tps: ok,
            consume_failed_tps: failed,
            consume_rt: rt,
            consume_failed_msgs: failed_msgs,
        },
    )
}

fn running_info() -> impl Strategy<Value = ConsumerRunningInfo> {
    (
        prop::option::of(text()),
        prop::collection::btree_map(queue(), process_queue(), 0..6),
        prop::collection::btree_map(text(), text(), 0..6),
        prop::collection::btree_map(text(), status(), 0..3),
        prop::collection::vec((text(), text()), 0..3),
    )
        .prop_map(
            |(jstack, queues, properties, status_table, subs)| ConsumerRunningInfo {
                jstack,
                mq_table: queues.into_iter().collect(),
                properties,
                status_table,
                subscription_set: subs
                    .into_iter()
                    .map(|(topic, sub_string)| SubscriptionData {
                        topic,
                        sub_string,
                        ..Default::default()
                    })
                    .collect(),
                user_consumer_info: BTreeMap::new(),
            },
        )
}

proptest! {
    #[test]
    fn running_info_round_trips(info in running_info()) {
        let back = ConsumerRunningInfo::from_json(&info.to_fastjson()).unwrap();
        // The reader lists queues in the order of their JSON keys; compare them as a set.
        let sorted = |mut v: Vec<(MessageQueue, ProcessQueueInfo)>| {
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        prop_assert_eq!(sorted(back.mq_table.clone()), sorted(info.mq_table.clone()));
        prop_assert_eq!(back.properties, info.properties);
        // serde_json reads a double to within one unit in the last place (no float_roundtrip).
        prop_assert_eq!(back.status_table.len(), info.status_table.len());
        for ((kb, b), (ki, i)) in back.status_table.iter().zip(&info.status_table) {
            prop_assert_eq!(kb, ki);
            prop_assert_eq!(b.consume_failed_msgs, i.consume_failed_msgs);
            for (x, y) in [
                (b.pull_tps, i.pull_tps),
                (b.pull_rt, i.pull_rt),
                (b.consume_ok_tps, i.consume_ok_tps),
                (b.consume_failed_tps, i.consume_failed_tps),
                (b.consume_rt, i.consume_rt),
            ] {
                prop_assert!((x - y).abs() <= y.abs() * 1e-15, "{} != {}", x, y);
            }
        }
        prop_assert_eq!(back.subscription_set, info.subscription_set);
        prop_assert_eq!(back.jstack, info.jstack);
    }

    #[test]
    fn reset_offsets_round_trip(table in prop::collection::btree_map(queue(), any::<i64>(), 0..8)) {
        let body = ResetOffsetBody { offset_table: table.clone().into_iter().collect() };
        let mut back = ResetOffsetBody::from_json(&body.to_fastjson()).unwrap().offset_table;
        back.sort_by(|a, b| a.0.cmp(&b.0));
        prop_assert_eq!(back, table.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn arbitrary_bodies_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = ConsumerRunningInfo::from_json(&data);
        let _ = ResetOffsetBody::from_json(&data);
    }

    #[test]
    fn mangled_running_info_never_panics(info in running_info(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = info.to_fastjson();
        if !bytes.is_empty() {
            let at = cut.index(bytes.len());
            bytes[at] = byte;
            let _ = ConsumerRunningInfo::from_json(&bytes);
            let _ = ConsumerRunningInfo::from_json(&bytes[..at]);
        }
    }

    #[test]
    fn properties_round_trip(pairs in prop::collection::vec(("\\PC{0,10}", "[ =:#!\\\\\t\n\r\u{c}a-z\u{1}é😀\\PC]{0,12}"), 0..6)) {
        let text = write_properties(&pairs);
        prop_assert_eq!(read_properties(&text), pairs, "{:?}", text);
    }

    #[test]
    fn any_text_reads_as_properties(text in "[ =:#!\\\\\t\n\ru0-9a-fA-FD\\PC]{0,64}") {
        let _ = read_properties(&text);
    }

    #[test]
    fn consumer_status_round_trips(
        held in prop::collection::vec((queue(), any::<i64>()), 0..4),
        clients in prop::collection::vec((text(), prop::collection::vec((queue(), any::<i64>()), 0..3)), 0..3),
    ) {
        let mut consumer_table = clients;
        consumer_table.sort_by(|a, b| a.0.cmp(&b.0));
        consumer_table.dedup_by(|a, b| a.0 == b.0);
        for (_, t) in &mut consumer_table {
            t.sort_by(|a, b| a.0.cmp(&b.0));
            t.dedup_by(|a, b| a.0 == b.0);
        }
        let mut message_queue_table = held;
        message_queue_table.sort_by(|a, b| a.0.cmp(&b.0));
        message_queue_table.dedup_by(|a, b| a.0 == b.0);
        let body = GetConsumerStatusBody { message_queue_table, consumer_table };
        let mut back = GetConsumerStatusBody::from_json(&body.to_fastjson()).unwrap();
        back.message_queue_table.sort_by(|a, b| a.0.cmp(&b.0));
        back.consumer_table.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, t) in &mut back.consumer_table {
            t.sort_by(|a, b| a.0.cmp(&b.0));
        }
        prop_assert_eq!(back, body);
    }

    #[test]
    fn broker_consume_stats_round_trip(
        groups in prop::collection::vec((text(), prop::collection::vec((queue(), 0i64..1000, 0i64..1000), 0..3)), 0..3),
        addr in text(),
    ) {
        let mut groups = groups;
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        groups.dedup_by(|a, b| a.0 == b.0);
        let consume_stats_list: Vec<(String, Vec<ConsumeStats>)> = groups
            .into_iter()
            .map(|(g, queues)| {
                let mut offset_table: Vec<_> = queues
                    .into_iter()
                    .map(|(q, b, c)| (q, OffsetWrapper { broker_offset: b, consumer_offset: c, last_timestamp: 0, pull_offset: c }))
                    .collect();
                offset_table.sort_by(|a, b| a.0.cmp(&b.0));
                offset_table.dedup_by(|a, b| a.0 == b.0);
                (g, vec![ConsumeStats { consume_tps: 0.5, offset_table }])
            })
            .collect();
        let total_diff = consume_stats_list.iter().flat_map(|(_, s)| s).map(ConsumeStats::total_diff).sum();
        let list = ConsumeStatsList { broker_addr: addr, consume_stats_list, total_diff, total_inflight_diff: 0 };
        let mut back = ConsumeStatsList::from_json(&list.to_fastjson()).unwrap();
        back.consume_stats_list.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, stats) in &mut back.consume_stats_list {
            for s in stats {
                s.offset_table.sort_by(|a, b| a.0.cmp(&b.0));
            }
        }
        prop_assert_eq!(back, list);
    }

    #[test]
    fn consume_time_spans_round_trip(
        spans in prop::collection::vec((queue(), any::<i64>(), any::<i64>(), any::<i64>(), any::<i64>()), 0..6),
    ) {
        let body = QueryConsumeTimeSpanBody {
            consume_time_span_set: spans
                .into_iter()
                .map(|(message_queue, min, max, consumed, delay)| QueueTimeSpan {
                    consume_time_stamp: consumed,
                    delay_time: delay,
                    max_time_stamp: max,
                    message_queue,
                    min_time_stamp: min,
                })
                .collect(),
        };
        let back: QueryConsumeTimeSpanBody =
            courier_remoting::body::from_json(&courier_remoting::body::to_json(&body)).unwrap();
        prop_assert_eq!(back, body);
    }

    #[test]
    fn consume_time_spans_read_snake_case_too(min in any::<i64>(), delay in any::<i64>(), q in 0i32..16) {
        // The rocketmq-rust 1.0 broker writes the members in snake_case.
        let text = format!(
            r#"{{"consumeTimeSpanSet":[{{"message_queue":{{"topic":"T","brokerName":"b","queueId":{q}}},"min_time_stamp":{min},"max_time_stamp":2,"consume_time_stamp":1,"delay_time":{delay}}}]}}"#
        );
        let body: QueryConsumeTimeSpanBody = courier_remoting::body::from_json(text.as_bytes()).unwrap();
        let s = &body.consume_time_span_set[0];
        prop_assert_eq!((s.min_time_stamp, s.delay_time, s.message_queue.queue_id), (min, delay, q));
    }

    #[test]
    fn arbitrary_admin_bodies_never_panic(data in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = GetConsumerStatusBody::from_json(&data);
        let _ = ConsumeStatsList::from_json(&data);
        let _ = courier_remoting::body::from_json::<QueryConsumeTimeSpanBody>(&data);
    }
}
