//! Fuzz target: arbitrary bytes through every decoder a server runs on network input — the
//! frame codec, the handshake, and `Request::decode` for every opcode (the first byte picks the
//! opcode so every request type is reached, the rest is the body). Decoding must never panic or
//! allocate beyond the input, and whatever decodes must re-encode to something that decodes
//! to the same value.
#![no_main]

use bytes::{Bytes, BytesMut};
use courier_keeper_proto::{ConnectRequest, OpCode, Reader, Record, Request};
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

const LIMIT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let ops = OpCode::ALL;
    let op = if (data[0] as usize) < ops.len() {
        ops[data[0] as usize]
    } else {
        OpCode::Unknown(i32::from(data[0]))
    };
    let body = Bytes::copy_from_slice(&data[1..]);
    let mut r = Reader::new(body.clone(), LIMIT);
    if let Ok(req) = Request::decode(op, &mut r) {
        let mut out = BytesMut::new();
        req.write_body(&mut out);
        let mut r2 = Reader::new(out.freeze(), usize::MAX);
        let again = Request::decode(req.opcode(), &mut r2).expect("re-encoded request decodes");
        assert_eq!(again, req);
    }
    let _ = courier_keeper_proto::decode_request(body.clone(), LIMIT);
    let _ = ConnectRequest::from_slice(&body, LIMIT);
    let mut codec = courier_keeper_proto::FrameCodec::new(LIMIT);
    let mut buf = BytesMut::from(&data[1..]);
    while let Ok(Some(_)) = codec.decode(&mut buf) {}
});
