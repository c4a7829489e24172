//! multi (14) and multiRead (22): a sequence of MultiHeader-prefixed ops closed by the
//! terminator `MultiHeader(-1, done=true, -1)`, and the matching result sequence.
//!
//! Result bodies by type: create 1 → path; create2 15 → path + Stat; delete 2 / check 13 →
//! nothing; setData 5 → Stat; getData 4 → data + Stat; getChildren 8 → children; error -1 →
//! ErrorResponse. Decoding stops at the terminator; an op count is bounded by the input because
//! every header takes 9 bytes.

use bytes::{Buf, BufMut, Bytes};

use crate::jute::{JuteError, Reader, Record};
use crate::opcode::OpCode;
use crate::records::{
    CheckVersionRequest, CreateRequest, CreateTtlRequest, DeleteRequest, ErrorResponse,
    MultiHeader, PathWatchRequest, SetDataRequest, Stat,
};

/// One op inside a multi or multiRead request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiOp {
    /// create (1), create2 (15) or createContainer (19); the opcode says which reply shape.
    Create(OpCode, CreateRequest),
    /// createTTL (21).
    CreateTtl(CreateTtlRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// check (13).
    Check(CheckVersionRequest),
    /// getData (4), multiRead only.
    GetData(PathWatchRequest),
    /// getChildren (8), multiRead only.
    GetChildren(PathWatchRequest),
}

impl MultiOp {
    /// The opcode written in this op's header.
    pub fn opcode(&self) -> OpCode {
        match self {
            MultiOp::Create(op, _) => *op,
            MultiOp::CreateTtl(_) => OpCode::CreateTtl,
            MultiOp::Delete(_) => OpCode::Delete,
            MultiOp::SetData(_) => OpCode::SetData,
            MultiOp::Check(_) => OpCode::Check,
            MultiOp::GetData(_) => OpCode::GetData,
            MultiOp::GetChildren(_) => OpCode::GetChildren,
        }
    }

    /// The path the op touches.
    pub fn path(&self) -> &str {
        match self {
            MultiOp::Create(_, r) => &r.path,
            MultiOp::CreateTtl(r) => &r.path,
            MultiOp::Delete(r) => &r.path,
            MultiOp::SetData(r) => &r.path,
            MultiOp::Check(r) => &r.path,
            MultiOp::GetData(r) | MultiOp::GetChildren(r) => &r.path,
        }
    }
}

/// multi / multiRead request body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiRequest {
    /// Ops in order.
    pub ops: Vec<MultiOp>,
}

const TERMINATOR: MultiHeader = MultiHeader {
    op_type: -1,
    done: true,
    err: -1,
};

impl Record for MultiRequest {
    fn write<B: BufMut>(&self, out: &mut B) {
        for op in &self.ops {
            MultiHeader {
                op_type: op.opcode().code(),
                done: false,
                err: -1,
            }
            .write(out);
            match op {
                MultiOp::Create(_, r) => r.write(out),
                MultiOp::CreateTtl(r) => r.write(out),
                MultiOp::Delete(r) => r.write(out),
                MultiOp::SetData(r) => r.write(out),
                MultiOp::Check(r) => r.write(out),
                MultiOp::GetData(r) | MultiOp::GetChildren(r) => r.write(out),
            }
        }
        TERMINATOR.write(out);
    }

    fn read<B: Buf>(r: &mut Reader<B>) -> Result<Self, JuteError> {
        let mut ops = Vec::new();
        loop {
            let h = MultiHeader::read(r)?;
            if h.done {
                return Ok(MultiRequest { ops });
            }
            let op = OpCode::from_code(h.op_type);
            ops.push(match op {
                OpCode::Create | OpCode::Create2 | OpCode::CreateContainer => {
                    MultiOp::Create(op, CreateRequest::read(r)?)
                }
                OpCode::CreateTtl => MultiOp::CreateTtl(CreateTtlRequest::read(r)?),
                OpCode::Delete => MultiOp::Delete(DeleteRequest::read(r)?),
                OpCode::SetData => MultiOp::SetData(SetDataRequest::read(r)?),
                OpCode::Check => MultiOp::Check(CheckVersionRequest::read(r)?),
                OpCode::GetData => MultiOp::GetData(PathWatchRequest::read(r)?),
                OpCode::GetChildren => MultiOp::GetChildren(PathWatchRequest::read(r)?),
                _ => {
                    return Err(JuteError::BadValue {
                        what: "multi op type",
                        value: i64::from(h.op_type),
                    })
                }
            });
        }
    }
}

/// One result inside a multi reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// create (1).
    Create(String),
    /// create2 / createContainer / createTTL (written as type 15).
    Create2(String, Stat),
    /// delete (2).
    Delete,
    /// setData (5).
    SetData(Stat),
    /// check (13).
    Check,
    /// getData (4).
    GetData(Bytes, Stat),
    /// getChildren (8).
    GetChildren(Vec<String>),
    /// Failed op (-1) with its code.
    Error(i32),
}

/// multi / multiRead reply body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MultiResponse {
    /// Results in op order.
    pub results: Vec<OpResult>,
}

impl Record for MultiResponse {
    fn write<B: BufMut>(&self, out: &mut B) {
        for res in &self.results {
            let (op_type, err) = match res {
                OpResult::Create(_) => (OpCode::Create.code(), 0),
                OpResult::Create2(..) => (OpCode::Create2.code(), 0),
                OpResult::Delete => (OpCode::Delete.code(), 0),
                OpResult::SetData(_) => (OpCode::SetData.code(), 0),
                OpResult::Check => (OpCode::Check.code(), 0),
                OpResult::GetData(..) => (OpCode::GetData.code(), 0),
                OpResult::GetChildren(_) => (OpCode::GetChildren.code(), 0),
                OpResult::Error(e) => (-1, *e),
            };
            MultiHeader {
                op_type,
                done: false,
                err,
            }
            .write(out);
            match res {
                OpResult::Create(p) => crate::jute::put_ustring(out, p),
                OpResult::Create2(p, s) => {
                    crate::jute::put_ustring(out, p);
                    s.write(out);
                }
                OpResult::Delete | OpResult::Check => {}
                OpResult::SetData(s) => s.write(out),
                OpResult::GetData(d, s) => {
                    crate::jute::put_buffer(out, d);
                    s.write(out);
                }
                OpResult::GetChildren(c) => crate::jute::put_strings(out, c),
                OpResult::Error(e) => ErrorResponse { err: *e }.write(out),
            }
        }
        TERMINATOR.write(out);
    }

    fn read<B: Buf>(r: &mut Reader<B>) -> Result<Self, JuteError> {
        let mut results = Vec::new();
        loop {
            let h = MultiHeader::read(r)?;
            if h.done {
                return Ok(MultiResponse { results });
            }
            results.push(match OpCode::from_code(h.op_type) {
                OpCode::Create => OpResult::Create(r.ustring("CreateResponse.path")?),
                OpCode::Create2 => {
                    OpResult::Create2(r.ustring("Create2Response.path")?, Stat::read(r)?)
                }
                OpCode::Delete => OpResult::Delete,
                OpCode::Check => OpResult::Check,
                OpCode::SetData => OpResult::SetData(Stat::read(r)?),
                OpCode::GetData => {
                    OpResult::GetData(r.bytes("GetDataResponse.data")?, Stat::read(r)?)
                }
                OpCode::GetChildren => {
                    OpResult::GetChildren(r.strings("GetChildrenResponse.children")?)
                }
                OpCode::Error => OpResult::Error(ErrorResponse::read(r)?.err),
                _ => {
                    return Err(JuteError::BadValue {
                        what: "multi result type",
                        value: i64::from(h.op_type),
                    })
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_multi_is_just_the_terminator() {
        let bytes = MultiRequest::default().to_bytes();
        assert_eq!(
            &bytes[..],
            &[0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            MultiRequest::from_slice(&bytes, 1 << 20).unwrap(),
            MultiRequest::default()
        );
    }

    #[test]
    fn error_result_layout() {
        let resp = MultiResponse {
            results: vec![OpResult::Error(-101)],
        };
        let bytes = resp.to_bytes();
        assert_eq!(
            &bytes[..13],
            &[0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0x9b, 0xff, 0xff, 0xff, 0x9b]
        );
        assert_eq!(MultiResponse::from_slice(&bytes, 1 << 20).unwrap(), resp);
    }

    #[test]
    fn unknown_op_in_multi_is_an_error() {
        let data = [0u8, 0, 0, 99, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(MultiRequest::from_slice(&data, 100).is_err());
    }

    #[test]
    fn missing_terminator_is_truncation() {
        let data = [
            0u8, 0, 0, 13, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1, b'/', 0, 0, 0, 1,
        ];
        assert!(matches!(
            MultiRequest::from_slice(&data, 100),
            Err(JuteError::Truncated { .. })
        ));
    }
}
