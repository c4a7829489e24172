//! A decoded client request: the body record chosen by the RequestHeader's opcode.
//!
//! `Request::decode` is the single entry point the server (and the fuzzer) use for everything
//! after the handshake. An opcode ZooKeeper does not define decodes to `Request::Unknown` rather
//! than an error, because the server must answer it (UNIMPLEMENTED) before closing.

use bytes::{Buf, BufMut};

use crate::jute::{JuteError, Reader, Record};
use crate::multi::MultiRequest;
use crate::opcode::OpCode;
use crate::records::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CreateRequest, CreateTtlRequest,
    DeleteRequest, PathRequest, PathWatchRequest, ReconfigRequest, SaslToken, SetAclRequest,
    SetDataRequest, SetWatches, SetWatches2, WatchesRequest,
};

/// A request body, keyed by opcode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// 1
    Create(CreateRequest),
    /// 15
    Create2(CreateRequest),
    /// 19
    CreateContainer(CreateRequest),
    /// 21
    CreateTtl(CreateTtlRequest),
    /// 2
    Delete(DeleteRequest),
    /// 3
    Exists(PathWatchRequest),
    /// 4
    GetData(PathWatchRequest),
    /// 5
    SetData(SetDataRequest),
    /// 6
    GetAcl(PathRequest),
    /// 7
    SetAcl(SetAclRequest),
    /// 8
    GetChildren(PathWatchRequest),
    /// 12
    GetChildren2(PathWatchRequest),
    /// 9
    Sync(PathRequest),
    /// 11
    Ping,
    /// 13
    Check(CheckVersionRequest),
    /// 14
    Multi(MultiRequest),
    /// 22
    MultiRead(MultiRequest),
    /// 16
    Reconfig(ReconfigRequest),
    /// 17
    CheckWatches(WatchesRequest),
    /// 18
    RemoveWatches(WatchesRequest),
    /// 100
    Auth(AuthPacket),
    /// 101
    SetWatches(SetWatches),
    /// 105
    SetWatches2(SetWatches2),
    /// 102
    Sasl(SaslToken),
    /// 103
    GetEphemerals(PathRequest),
    /// 104
    GetAllChildrenNumber(PathRequest),
    /// 106
    AddWatch(AddWatchRequest),
    /// 107
    WhoAmI,
    /// -11
    CloseSession,
    /// Any opcode a client may not send (including internal ones).
    Unknown(i32),
}

impl Request {
    /// Decodes the body that follows a RequestHeader with opcode `op`.
    pub fn decode<B: Buf>(op: OpCode, r: &mut Reader<B>) -> Result<Request, JuteError> {
        Ok(match op {
            OpCode::Create => Request::Create(r.record()?),
            OpCode::Create2 => Request::Create2(r.record()?),
            OpCode::CreateContainer => Request::CreateContainer(r.record()?),
            OpCode::CreateTtl => Request::CreateTtl(r.record()?),
            OpCode::Delete => Request::Delete(r.record()?),
            OpCode::Exists => Request::Exists(r.record()?),
            OpCode::GetData => Request::GetData(r.record()?),
            OpCode::SetData => Request::SetData(r.record()?),
            OpCode::GetAcl => Request::GetAcl(r.record()?),
            OpCode::SetAcl => Request::SetAcl(r.record()?),
            OpCode::GetChildren => Request::GetChildren(r.record()?),
            OpCode::GetChildren2 => Request::GetChildren2(r.record()?),
            OpCode::Sync => Request::Sync(r.record()?),
            OpCode::Ping => Request::Ping,
            OpCode::Check => Request::Check(r.record()?),
            OpCode::Multi => Request::Multi(r.record()?),
            OpCode::MultiRead => Request::MultiRead(r.record()?),
            OpCode::Reconfig => Request::Reconfig(r.record()?),
            OpCode::CheckWatches => Request::CheckWatches(r.record()?),
            OpCode::RemoveWatches => Request::RemoveWatches(r.record()?),
            OpCode::Auth => Request::Auth(r.record()?),
            OpCode::SetWatches => Request::SetWatches(r.record()?),
            OpCode::SetWatches2 => Request::SetWatches2(r.record()?),
            OpCode::Sasl => Request::Sasl(r.record()?),
            OpCode::GetEphemerals => Request::GetEphemerals(r.record()?),
            OpCode::GetAllChildrenNumber => Request::GetAllChildrenNumber(r.record()?),
            OpCode::AddWatch => Request::AddWatch(r.record()?),
            OpCode::WhoAmI => Request::WhoAmI,
            OpCode::CloseSession => Request::CloseSession,
            other => Request::Unknown(other.code()),
        })
    }

    /// The opcode this request is sent with.
    pub fn opcode(&self) -> OpCode {
        match self {
            Request::Create(_) => OpCode::Create,
            Request::Create2(_) => OpCode::Create2,
            Request::CreateContainer(_) => OpCode::CreateContainer,
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::Delete(_) => OpCode::Delete,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::Sync(_) => OpCode::Sync,
            Request::Ping => OpCode::Ping,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::Auth(_) => OpCode::Auth,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::Sasl(_) => OpCode::Sasl,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::CloseSession => OpCode::CloseSession,
            Request::Unknown(c) => OpCode::Unknown(*c),
        }
    }

    /// Appends the body (not the header).
    pub fn write_body<B: BufMut>(&self, out: &mut B) {
        match self {
            Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => r.write(out),
            Request::CreateTtl(r) => r.write(out),
            Request::Delete(r) => r.write(out),
            Request::Exists(r)
            | Request::GetData(r)
            | Request::GetChildren(r)
            | Request::GetChildren2(r) => r.write(out),
            Request::SetData(r) => r.write(out),
            Request::GetAcl(r)
            | Request::Sync(r)
            | Request::GetEphemerals(r)
            | Request::GetAllChildrenNumber(r) => r.write(out),
            Request::SetAcl(r) => r.write(out),
            Request::Check(r) => r.write(out),
            Request::Multi(r) | Request::MultiRead(r) => r.write(out),
            Request::Reconfig(r) => r.write(out),
            Request::CheckWatches(r) | Request::RemoveWatches(r) => r.write(out),
            Request::Auth(r) => r.write(out),
            Request::SetWatches(r) => r.write(out),
            Request::SetWatches2(r) => r.write(out),
            Request::Sasl(r) => r.write(out),
            Request::AddWatch(r) => r.write(out),
            Request::Ping | Request::WhoAmI | Request::CloseSession | Request::Unknown(_) => {}
        }
    }
}
