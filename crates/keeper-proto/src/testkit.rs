//! Property-test strategies for arbitrary ZooKeeper requests (feature `testkit`), shared by the
//! codec's round-trip tests and the keeper's live random-request test. What the values look like
//! is the caller's choice (`Values`): any text and any integer to test the codec, paths, create
//! flags and versions that meet a server's real namespace to test the server.

use bytes::Bytes;
use proptest::prelude::*;

use crate::multi::{MultiOp, MultiRequest};
use crate::opcode::OpCode;
use crate::records::*;
use crate::request::Request;

/// Where each kind of field draws its values from.
#[derive(Clone, Debug)]
pub struct Values {
    /// Znode paths (and the path of a watch).
    pub path: BoxedStrategy<String>,
    /// Other text: ACL schemes and ids, auth schemes, reconfig member lists.
    pub text: BoxedStrategy<String>,
    /// Create flags (modes).
    pub flags: BoxedStrategy<i32>,
    /// Expected versions, watcher types, watch modes, ACL permissions.
    pub int: BoxedStrategy<i32>,
    /// TTLs and zxids.
    pub long: BoxedStrategy<i64>,
}

impl Values {
    /// Any short text, any integer: what the codec must round-trip.
    pub fn any() -> Values {
        let text = "[a-z/0-9\u{e9}]{0,12}".boxed();
        Values {
            path: text.clone(),
            text,
            flags: any::<i32>().boxed(),
            int: any::<i32>().boxed(),
            long: any::<i64>().boxed(),
        }
    }
}

/// Node data: up to 40 arbitrary bytes.
pub fn data() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from)
}

fn acls(v: &Values) -> impl Strategy<Value = Vec<Acl>> {
    let acl = (v.int.clone(), v.text.clone(), v.text.clone()).prop_map(|(perms, scheme, id)| Acl {
        perms,
        id: Id { scheme, id },
    });
    proptest::collection::vec(acl, 0..4)
}

fn texts(v: &Values) -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(v.path.clone(), 0..5)
}

fn create(v: &Values) -> impl Strategy<Value = CreateRequest> {
    (v.path.clone(), data(), acls(v), v.flags.clone()).prop_map(|(path, data, acl, flags)| {
        CreateRequest {
            path,
            data,
            acl,
            flags,
        }
    })
}

fn create_ttl(v: &Values) -> impl Strategy<Value = CreateTtlRequest> {
    (create(v), v.long.clone()).prop_map(|(c, ttl)| CreateTtlRequest {
        path: c.path,
        data: c.data,
        acl: c.acl,
        flags: c.flags,
        ttl,
    })
}

fn path_watch(v: &Values) -> impl Strategy<Value = PathWatchRequest> {
    (v.path.clone(), any::<bool>()).prop_map(|(path, watch)| PathWatchRequest { path, watch })
}

fn path_req(v: &Values) -> impl Strategy<Value = PathRequest> {
    v.path.clone().prop_map(|path| PathRequest { path })
}

fn path_version(v: &Values) -> impl Strategy<Value = (String, i32)> {
    (v.path.clone(), v.int.clone())
}

fn set_data(v: &Values) -> impl Strategy<Value = SetDataRequest> {
    (v.path.clone(), data(), v.int.clone()).prop_map(|(path, data, version)| SetDataRequest {
        path,
        data,
        version,
    })
}

/// One operation of a multi (transaction or read batch).
pub fn multi_op(v: &Values) -> impl Strategy<Value = MultiOp> {
    prop_oneof![
        create(v).prop_map(|r| MultiOp::Create(OpCode::Create, r)),
        create(v).prop_map(|r| MultiOp::Create(OpCode::Create2, r)),
        create(v).prop_map(|r| MultiOp::Create(OpCode::CreateContainer, r)),
        create_ttl(v).prop_map(MultiOp::CreateTtl),
        path_version(v)
            .prop_map(|(path, version)| MultiOp::Delete(DeleteRequest { path, version })),
        set_data(v).prop_map(MultiOp::SetData),
        path_version(v)
            .prop_map(|(path, version)| MultiOp::Check(CheckVersionRequest { path, version })),
        path_watch(v).prop_map(MultiOp::GetData),
        path_watch(v).prop_map(MultiOp::GetChildren),
    ]
}

fn multi(v: &Values) -> impl Strategy<Value = MultiRequest> {
    proptest::collection::vec(multi_op(v), 0..5).prop_map(|ops| MultiRequest { ops })
}

/// Every request the keeper decodes except the ones that end a session or a connection by
/// design (CloseSession, Auth, Sasl): [`session_enders`] has those.
pub fn request(v: &Values) -> impl Strategy<Value = Request> {
    let set_watches = (v.long.clone(), texts(v), texts(v), texts(v)).prop_map(|(z, a, b, c)| {
        Request::SetWatches(SetWatches {
            relative_zxid: z,
            data_watches: a,
            exist_watches: b,
            child_watches: c,
        })
    });
    let set_watches2 = (
        v.long.clone(),
        texts(v),
        texts(v),
        texts(v),
        texts(v),
        texts(v),
    )
        .prop_map(|(z, a, b, c, d, e)| {
            Request::SetWatches2(SetWatches2 {
                relative_zxid: z,
                data_watches: a,
                exist_watches: b,
                child_watches: c,
                persistent_watches: d,
                persistent_recursive_watches: e,
            })
        });
    let reconfig = (
        v.text.clone(),
        v.text.clone(),
        v.text.clone(),
        v.long.clone(),
    )
        .prop_map(|(a, b, c, d)| {
            Request::Reconfig(ReconfigRequest {
                joining_servers: a,
                leaving_servers: b,
                new_members: c,
                cur_config_id: d,
            })
        });
    prop_oneof![
        create(v).prop_map(Request::Create),
        create(v).prop_map(Request::Create2),
        create(v).prop_map(Request::CreateContainer),
        create_ttl(v).prop_map(Request::CreateTtl),
        path_version(v)
            .prop_map(|(path, version)| Request::Delete(DeleteRequest { path, version })),
        path_watch(v).prop_map(Request::Exists),
        path_watch(v).prop_map(Request::GetData),
        set_data(v).prop_map(Request::SetData),
        path_req(v).prop_map(Request::GetAcl),
        (v.path.clone(), acls(v), v.int.clone())
            .prop_map(|(path, acl, version)| Request::SetAcl(SetAclRequest { path, acl, version })),
        path_watch(v).prop_map(Request::GetChildren),
        path_watch(v).prop_map(Request::GetChildren2),
        path_req(v).prop_map(Request::Sync),
        Just(Request::Ping),
        path_version(v)
            .prop_map(|(path, version)| Request::Check(CheckVersionRequest { path, version })),
        multi(v).prop_map(Request::Multi),
        multi(v).prop_map(Request::MultiRead),
        reconfig,
        path_version(v).prop_map(
            |(path, watcher_type)| Request::CheckWatches(WatchesRequest { path, watcher_type })
        ),
        path_version(v).prop_map(
            |(path, watcher_type)| Request::RemoveWatches(WatchesRequest { path, watcher_type })
        ),
        set_watches,
        set_watches2,
        path_req(v).prop_map(Request::GetEphemerals),
        path_req(v).prop_map(Request::GetAllChildrenNumber),
        path_version(v).prop_map(|(path, mode)| Request::AddWatch(AddWatchRequest { path, mode })),
        Just(Request::WhoAmI),
    ]
}

/// The requests that may end the connection or the session by design: CloseSession, and Auth
/// and Sasl, whose failures close the connection.
pub fn session_enders(v: &Values) -> impl Strategy<Value = Request> {
    prop_oneof![
        (v.int.clone(), v.text.clone(), data()).prop_map(|(auth_type, scheme, auth)| {
            Request::Auth(AuthPacket {
                auth_type,
                scheme,
                auth,
            })
        }),
        data().prop_map(|token| Request::Sasl(SaslToken { token })),
        Just(Request::CloseSession),
    ]
}
