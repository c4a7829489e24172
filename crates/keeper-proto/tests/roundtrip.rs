//! Property tests: every record survives encode → decode, every request survives a round trip
//! through `decode_request`, frames reassemble when split at arbitrary points, and arbitrary
//! bytes never panic the decoder.

use bytes::{Bytes, BytesMut};
use courier_keeper_proto::testkit;
use courier_keeper_proto::*;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

const LIMIT: usize = 1 << 20;

fn s() -> impl Strategy<Value = String> {
    "[a-z/0-9\u{e9}]{0,12}"
}

fn data() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
}

fn id() -> impl Strategy<Value = Id> {
    (s(), s()).prop_map(|(scheme, id)| Id { scheme, id })
}

fn acl() -> impl Strategy<Value = Acl> {
    (any::<i32>(), id()).prop_map(|(perms, id)| Acl { perms, id })
}

fn acls() -> impl Strategy<Value = Vec<Acl>> {
    proptest::collection::vec(acl(), 0..4)
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(s(), 0..5)
}

prop_compose! {
    fn stat()(a in any::<i64>(), b in any::<i64>(), c in any::<i64>(), d in any::<i64>(),
              e in any::<i32>(), f in any::<i32>(), g in any::<i32>(), h in any::<i64>(),
              i in any::<i32>(), j in any::<i32>(), k in any::<i64>()) -> Stat {
        Stat { czxid: a, mzxid: b, ctime: c, mtime: d, version: e, cversion: f, aversion: g,
               ephemeral_owner: h, data_length: i, num_children: j, pzxid: k }
    }
}

fn op_result() -> impl Strategy<Value = OpResult> {
    prop_oneof![
        s().prop_map(OpResult::Create),
        (s(), stat()).prop_map(|(p, st)| OpResult::Create2(p, st)),
        Just(OpResult::Delete),
        Just(OpResult::Check),
        stat().prop_map(OpResult::SetData),
        (data(), stat()).prop_map(|(d, st)| OpResult::GetData(d, st)),
        strings().prop_map(OpResult::GetChildren),
        any::<i32>().prop_map(OpResult::Error),
    ]
}

/// Every request, the ones that end a session included, with any values.
fn request() -> impl Strategy<Value = Request> {
    let v = testkit::Values::any();
    prop_oneof![6 => testkit::request(&v), 1 => testkit::session_enders(&v)]
}

fn round_trip<R: Record + PartialEq + std::fmt::Debug>(v: &R) {
    let bytes = v.to_bytes();
    let mut r = Reader::new(bytes.clone(), LIMIT);
    let back = R::read(&mut r).unwrap();
    assert_eq!(&back, v);
    assert_eq!(r.remaining(), 0, "record left bytes behind");
}

proptest! {
    #[test]
    fn requests_round_trip(req in request(), xid in any::<i32>()) {
        let mut payload = BytesMut::new();
        RequestHeader { xid, op: req.opcode().code() }.write(&mut payload);
        req.write_body(&mut payload);
        let (h, back) = decode_request(payload.freeze(), LIMIT).unwrap();
        prop_assert_eq!(h.xid, xid);
        prop_assert_eq!(back, req);
    }

    #[test]
    fn response_records_round_trip(st in stat(), p in s(), d in data(), c in strings(), a in acls(),
                                   n in any::<i32>(), e in any::<i32>(), results in proptest::collection::vec(op_result(), 0..5)) {
        round_trip(&st);
        round_trip(&CreateResponse { path: p.clone() });
        round_trip(&Create2Response { path: p.clone(), stat: st.clone() });
        round_trip(&StatResponse { stat: st.clone() });
        round_trip(&GetDataResponse { data: d.clone(), stat: st.clone() });
        round_trip(&GetAclResponse { acl: a.clone(), stat: st.clone() });
        round_trip(&GetChildrenResponse { children: c.clone() });
        round_trip(&GetChildren2Response { children: c.clone(), stat: st.clone() });
        round_trip(&GetEphemeralsResponse { ephemerals: c.clone() });
        round_trip(&GetAllChildrenNumberResponse { total_number: n });
        round_trip(&WhoAmIResponse { client_info: c.iter().map(|u| ClientInfo { auth_scheme: p.clone(), user: u.clone() }).collect() });
        round_trip(&WatcherEvent { event_type: n, state: e, path: p.clone() });
        round_trip(&ErrorResponse { err: e });
        round_trip(&ReplyHeader { xid: n, zxid: st.czxid, err: e });
        round_trip(&MultiHeader { op_type: n, done: d.is_empty(), err: e });
        round_trip(&MultiResponse { results });
        round_trip(&SaslToken { token: d.clone() });
    }

    #[test]
    fn handshake_round_trips(z in any::<i64>(), t in any::<i32>(), sid in any::<i64>(), pw in data(), ro in proptest::option::of(any::<bool>())) {
        round_trip(&ConnectRequest { protocol_version: 0, last_zxid_seen: z, timeout_ms: t, session_id: sid, passwd: pw.clone(), read_only: ro });
        round_trip(&ConnectResponse { protocol_version: 0, timeout_ms: t, session_id: sid, passwd: pw, read_only: ro });
    }

    #[test]
    fn frames_split_anywhere_reassemble(payloads in proptest::collection::vec(data(), 1..6), cuts in proptest::collection::vec(any::<usize>(), 0..8)) {
        let mut codec = FrameCodec::new(LIMIT);
        let mut wire = BytesMut::new();
        for p in &payloads {
            codec.encode(p.clone(), &mut wire).unwrap();
        }
        let wire = wire.freeze();
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
        points.push(wire.len());
        points.sort_unstable();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut start = 0;
        for p in points {
            buf.extend_from_slice(&wire[start..p]);
            start = p;
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                got.push(frame);
            }
        }
        prop_assert_eq!(got, payloads);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_request(Bytes::from(bytes.clone()), 64);
        let _ = ConnectRequest::from_slice(&bytes, 64);
        let _ = MultiResponse::from_slice(&bytes, 64);
    }

    #[test]
    fn truncated_requests_are_errors(req in request()) {
        let mut payload = BytesMut::new();
        RequestHeader { xid: 1, op: req.opcode().code() }.write(&mut payload);
        req.write_body(&mut payload);
        let full = payload.freeze();
        // Cutting inside the header or body must fail (bodies without fields excepted).
        for cut in 0..full.len().min(8) {
            prop_assert!(decode_request(full.slice(..cut), LIMIT).is_err());
        }
    }
}

#[test]
fn huge_vector_count_in_set_watches_is_rejected() {
    let mut payload = BytesMut::new();
    RequestHeader { xid: -8, op: 101 }.write(&mut payload);
    payload.extend_from_slice(&[0; 8]);
    payload.extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
    payload.extend_from_slice(&[0, 0, 0, 0]);
    assert!(matches!(
        decode_request(payload.freeze(), LIMIT),
        Err(JuteError::BadLength { .. })
    ));
}

#[test]
fn unknown_opcode_decodes_to_unknown() {
    let mut payload = BytesMut::new();
    RequestHeader { xid: 3, op: 99 }.write(&mut payload);
    let (_, req) = decode_request(payload.freeze(), LIMIT).unwrap();
    assert_eq!(req, Request::Unknown(99));
}

#[test]
fn ping_layout() {
    let f = frame(&RequestHeader { xid: -2, op: 11 }, &());
    assert_eq!(&f[..], &[0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11]);
}

#[test]
fn over_limit_data_in_set_data_is_rejected() {
    let big = SetDataRequest {
        path: "/a".into(),
        data: Bytes::from(vec![0u8; 2000]),
        version: -1,
    };
    let mut payload = BytesMut::new();
    RequestHeader { xid: 1, op: 5 }.write(&mut payload);
    big.write(&mut payload);
    assert!(decode_request(payload.clone().freeze(), 1000).is_err());
    assert!(decode_request(payload.freeze(), 4000).is_ok());
}
