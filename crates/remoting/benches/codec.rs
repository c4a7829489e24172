//! Frame codec throughput: encoding and decoding a typical SEND_MESSAGE_V2
//! request (JSON and ROCKETMQ headers, 1 KiB body), and the per-message header work of a
//! send on each side: the broker decoding the request into its typed header and writing the
//! response header, the client reading that response header. `*_via_map` variants force the
//! extFields map the decoder no longer builds, for comparison.

use bytes::{Bytes, BytesMut};
use courier_remoting::code::request;
use courier_remoting::header::{
    CommandHeader, SendMessageRequestHeader, SendMessageRequestHeaderV2, SendMessageResponseHeader,
};
use courier_remoting::{RemotingCodec, RemotingCommand, SerializeType};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use tokio_util::codec::Decoder;

fn send_v2(st: SerializeType) -> RemotingCommand {
    let h = SendMessageRequestHeader {
        producer_group: "please_rename_unique_group_name".into(),
        topic: "TopicTest".into(),
        default_topic: "TBW102".into(),
        default_topic_queue_nums: 4,
        queue_id: 3,
        sys_flag: 0,
        born_timestamp: 1_700_000_000_000,
        flag: 0,
        properties: Some("UNIQ_KEY\u{1}7F0000010A2B18B4AAC27C1A3D2E0000\u{2}WAIT\u{1}true\u{2}TAGS\u{1}TagA\u{2}".into()),
        reconsume_times: Some(0),
        unit_mode: Some(false),
        batch: Some(false),
        ..Default::default()
    };
    let mut cmd = RemotingCommand::request_with_header(
        request::SEND_MESSAGE_V2,
        &SendMessageRequestHeaderV2::from(h),
    )
    .with_body(Bytes::from(vec![b'x'; 1024]));
    cmd.serialize_type = st;
    cmd
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");
    g.throughput(Throughput::Elements(1));
    // What a producer does per message before encoding: typed header -> extFields.
    g.bench_function("build_send_v2_command", |b| {
        b.iter(|| send_v2(SerializeType::Json).ext_fields.len())
    });
    for (name, st) in [
        ("json", SerializeType::Json),
        ("rocketmq", SerializeType::RocketMq),
    ] {
        let cmd = send_v2(st);
        let codec = RemotingCodec::default();
        let frame = codec.encode_to_vec(&cmd).unwrap_or_default();
        g.bench_function(format!("encode_send_v2_{name}"), |b| {
            b.iter(|| codec.encode_to_vec(&cmd).map(|v| v.len()).unwrap_or(0))
        });
        g.bench_function(format!("decode_send_v2_{name}"), |b| {
            b.iter(|| {
                let mut buf = BytesMut::from(&frame[..]);
                let mut d = RemotingCodec::default();
                let cmd = d.decode(&mut buf).ok().flatten();
                cmd.map(|c| c.code).unwrap_or(0)
            })
        });
    }
    let frame = RemotingCodec::default()
        .encode_to_vec(&send_v2(SerializeType::Json))
        .unwrap_or_default();
    decode_take(&mut g, "decode_take_send_header", &frame, |cmd| {
        SendMessageRequestHeader::take_from_command(cmd).map_or(0, |h| i64::from(h.queue_id))
    });
    let response = SendMessageResponseHeader {
        msg_id: "7F00000100002A9F0000000000B3B2C0".into(),
        queue_id: 3,
        queue_offset: 123_456,
        transaction_id: Some("7F0000010A2B18B4AAC27C1A3D2E0000".into()),
        msg_region: Some("DefaultRegion".into()),
        trace_on: Some("true".into()),
        ..Default::default()
    };
    let request = send_v2(SerializeType::Json);
    g.bench_function("encode_send_response_via_map", |b| {
        b.iter(|| {
            let resp = RemotingCommand::success_to(&request).with_header(&response);
            RemotingCodec::default()
                .encode_to_vec(&resp)
                .map(|v| v.len())
                .unwrap_or(0)
        })
    });
    g.bench_function("encode_send_response", |b| {
        b.iter(|| {
            let mut resp = RemotingCommand::success_to(&request);
            resp.ext_fields_json = Some(response.json_members());
            RemotingCodec::default()
                .encode_to_vec(&resp)
                .map(|v| v.len())
                .unwrap_or(0)
        })
    });
    let resp_frame = RemotingCodec::default()
        .encode_to_vec(&RemotingCommand::success_to(&request).with_header(&response))
        .unwrap_or_default();
    decode_take(&mut g, "decode_take_send_response", &resp_frame, |cmd| {
        cmd.take_header::<SendMessageResponseHeader>()
            .map_or(0, |h| h.queue_offset)
    });
    g.finish();
}

/// Benches decoding `frame` and taking a typed header out of it with `take`, as the receiving
/// side does per message; `{name}_via_map` first moves the extFields into the map the decoder no
/// longer builds, for comparison.
fn decode_take(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    frame: &[u8],
    take: fn(&mut RemotingCommand) -> i64,
) {
    for (suffix, via_map) in [("", false), ("_via_map", true)] {
        g.bench_function(format!("{name}{suffix}"), |b| {
            b.iter(|| {
                let mut buf = BytesMut::from(frame);
                let Ok(Some(mut cmd)) = RemotingCodec::default().decode(&mut buf) else {
                    return 0;
                };
                if via_map {
                    cmd.ext_fields_mut();
                }
                take(&mut cmd)
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
