//! Property tests: both header encodings and the frame decoder round-trip
//! arbitrary commands, even when the bytes arrive split at arbitrary points,
//! and arbitrary bytes never panic the decoder.

use bytes::{Bytes, BytesMut};
use courier_remoting::command::{ExtFields, LanguageCode, RemotingCommand, SerializeType};
use courier_remoting::header::{
    CommandHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2,
};
use courier_remoting::RemotingCodec;
use proptest::prelude::*;
use tokio_util::codec::Decoder;

fn arb_language() -> impl Strategy<Value = LanguageCode> {
    (0usize..LanguageCode::ALL.len()).prop_map(|i| LanguageCode::ALL[i])
}

fn arb_ext() -> impl Strategy<Value = ExtFields> {
    prop::collection::btree_map("[a-zA-Z0-9_#%.]{1,12}", ".{0,24}", 0..8)
}

fn arb_command(st: SerializeType) -> impl Strategy<Value = RemotingCommand> {
    let small = st == SerializeType::RocketMq;
    let code = if small {
        (i16::MIN as i32..=i16::MAX as i32).boxed()
    } else {
        any::<i32>().boxed()
    };
    let version = if small {
        (i16::MIN as i32..=i16::MAX as i32).boxed()
    } else {
        any::<i32>().boxed()
    };
    (
        code,
        arb_language(),
        version,
        any::<i32>(),
        any::<i32>(),
        // The binary header cannot tell an empty remark from none.
        prop::option::of(".{1,40}"),
        arb_ext(),
        prop::option::of(prop::collection::vec(any::<u8>(), 1..200)),
    )
        .prop_map(
            move |(code, language, version, opaque, flag, remark, ext_fields, body)| {
                RemotingCommand {
                    code,
                    language,
                    version,
                    opaque,
                    flag,
                    remark,
                    ext_fields,
                    ext_fields_json: None,
                    ext_fields_raw: None,
                    body: body.map(Bytes::from),
                    serialize_type: st,
                }
            },
        )
}

fn arb_any_command() -> impl Strategy<Value = RemotingCommand> {
    prop_oneof![
        arb_command(SerializeType::Json),
        arb_command(SerializeType::RocketMq)
    ]
}

proptest! {
    #[test]
    fn frames_round_trip_split_anywhere(
        cmds in prop::collection::vec(arb_any_command(), 1..5),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let codec = RemotingCodec::default();
        let mut wire = Vec::new();
        for c in &cmds {
            wire.extend(codec.encode_to_vec(c).unwrap());
        }
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        points.push(wire.len());
        points.sort_unstable();
        let mut decoder = RemotingCodec::default();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut start = 0;
        for p in points {
            buf.extend_from_slice(&wire[start..p]);
            start = p;
            while let Some(cmd) = decoder.decode(&mut buf).unwrap() {
                got.push(cmd);
            }
        }
        prop_assert!(decoder.decode_eof(&mut buf).unwrap().is_none());
        prop_assert_eq!(got, cmds);
    }

    #[test]
    fn json_header_round_trips(cmd in arb_command(SerializeType::Json)) {
        let bytes = cmd.encode_header().unwrap();
        let mut back = RemotingCommand::decode_header_bytes(SerializeType::Json, &bytes).unwrap();
        back.body = cmd.body.clone();
        prop_assert_eq!(back, cmd);
    }

    #[test]
    fn binary_header_round_trips(cmd in arb_command(SerializeType::RocketMq)) {
        let bytes = cmd.encode_header().unwrap();
        let mut back = RemotingCommand::decode_header_bytes(SerializeType::RocketMq, &bytes).unwrap();
        back.body = cmd.body.clone();
        prop_assert_eq!(back, cmd);
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..512)) {
        let mut decoder = RemotingCodec::new(4096);
        let mut buf = BytesMut::from(&data[..]);
        while let Ok(Some(_)) = decoder.decode(&mut buf) {}
        // Nothing is reserved from untrusted lengths: the buffer holds at most the input.
        prop_assert!(buf.len() <= data.len());
    }

    #[test]
    fn binary_header_garbage_never_panics(data in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = RemotingCommand::decode_header_bytes(SerializeType::RocketMq, &data);
        let _ = RemotingCommand::decode_header_bytes(SerializeType::Json, &data);
    }

    #[test]
    fn send_headers_convert_between_key_sets(
        group in "[a-zA-Z0-9_-]{1,20}", topic in "[a-zA-Z0-9_%|-]{1,30}", queue in any::<i32>(),
        born in any::<i64>(), props in prop::option::of(".{0,40}"), batch in prop::option::of(any::<bool>()),
    ) {
        let h = SendMessageRequestHeader {
            producer_group: group, topic, default_topic: "TBW102".into(), default_topic_queue_nums: 4,
            queue_id: queue, sys_flag: 0, born_timestamp: born, flag: 0, properties: props, batch,
            ..Default::default()
        };
        let v2 = SendMessageRequestHeaderV2::from(h.clone());
        let back = SendMessageRequestHeader::from(SendMessageRequestHeaderV2::from_ext_fields(&v2.ext_fields()).unwrap());
        prop_assert_eq!(back, h.clone());
        prop_assert_eq!(SendMessageRequestHeader::from_ext_fields(&h.ext_fields()).unwrap(), h);
    }
}
