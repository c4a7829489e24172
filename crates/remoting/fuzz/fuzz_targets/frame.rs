//! Fuzz target `frame`: arbitrary bytes through the frame decoder, then every
//! decoded command through the typed headers, the JSON bodies (the queue-keyed
//! admin bodies too), the properties text, the batch body and the compressed
//! register body. Nothing may panic, and a decoded command must re-encode to a
//! frame that decodes to the same command.
#![no_main]

use bytes::BytesMut;
use courier_remoting::body::{
    fastjson, from_json, read_properties, ClusterInfo, ConsumeStats, ConsumeStatsList,
    ConsumerRunningInfo, GetConsumerStatusBody, HeartbeatData, LockBatchRequestBody,
    QueryConsumeTimeSpanBody, RegisterBrokerBody, ResetOffsetBody, TopicRouteData,
};
use courier_remoting::header::*;
use courier_remoting::message_batch::decode_batch;
use courier_remoting::RemotingCodec;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let mut codec = RemotingCodec::new(1 << 20);
    let mut buf = BytesMut::from(data);
    while let Ok(Some(cmd)) = codec.decode(&mut buf) {
        let _ = SendMessageRequestHeader::from_command(&cmd);
        let _ = cmd.decode_header::<PullMessageRequestHeader>();
        let _ = cmd.decode_header::<RegisterBrokerRequestHeader>();
        let _ = cmd.decode_header::<QueryConsumerOffsetRequestHeader>();
        let _ = cmd.decode_header::<EndTransactionRequestHeader>();
        if let Some(body) = &cmd.body {
            let _ = from_json::<TopicRouteData>(body);
            let _ = from_json::<HeartbeatData>(body);
            let _ = from_json::<ClusterInfo>(body);
            let _ = from_json::<LockBatchRequestBody>(body);
            let _ = from_json::<QueryConsumeTimeSpanBody>(body);
            let _ = RegisterBrokerBody::decode(body, false);
            let _ = RegisterBrokerBody::decode(body, true);
            let _ = fastjson::normalize(body);
            let _ = decode_batch(body);
            let _ = ConsumeStats::from_json(body);
            let _ = ConsumeStatsList::from_json(body);
            let _ = GetConsumerStatusBody::from_json(body);
            let _ = ConsumerRunningInfo::from_json(body);
            let _ = ResetOffsetBody::from_json(body);
            let _ = read_properties(&String::from_utf8_lossy(body));
        }
        if let Ok(frame) = codec.encode_to_vec(&cmd) {
            let mut again = BytesMut::from(&frame[..]);
            let back = RemotingCodec::new(1 << 20).decode(&mut again);
            match back {
                Ok(Some(back)) => assert_eq!(back, cmd),
                other => panic!("re-encoded frame did not decode: {other:?}"),
            }
        }
    }
});
