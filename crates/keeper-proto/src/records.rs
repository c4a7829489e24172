//! Every fixed-layout jute record of the client protocol (spec §2, §3, §5): handshake, headers,
//! per-op requests and responses, Stat, ACL/Id, WatcherEvent and the multi headers.
//!
//! Each struct's fields are declared in wire order; the `record!` macro derives the encoding
//! from that order, so reordering fields changes the protocol. Strings decode null as "" and
//! vectors decode null as empty, which is what kazoo needs (it writes "" as null).

use bytes::{Buf, BufMut, Bytes};

use crate::jute::{
    put_bool, put_buffer, put_int, put_long, put_ustring, JuteError, Reader, Record,
};

/// A value that can be one field of a record.
pub trait Field: Sized {
    /// Appends the field.
    fn put<B: BufMut>(&self, out: &mut B);
    /// Reads the field; `what` names it in errors.
    fn get<B: Buf>(r: &mut Reader<B>, what: &'static str) -> Result<Self, JuteError>;
}

impl Field for i32 {
    fn put<B: BufMut>(&self, out: &mut B) {
        put_int(out, *self)
    }
    fn get<B: Buf>(r: &mut Reader<B>, what: &'static str) -> Result<Self, JuteError> {
        r.int(what)
    }
}

impl Field for i64 {
    fn put<B: BufMut>(&self, out: &mut B) {
        put_long(out, *self)
    }
    fn get<B: Buf>(r: &mut Reader<B>, what: &'static str) -> Result<Self, JuteError> {
        r.long(what)
    }
}

impl Field for bool {
    fn put<B: BufMut>(&self, out: &mut B) {
        put_bool(out, *self)
    }
    fn get<B: Buf>(r: &mut Reader<B>, what: &'static str) -> Result<Self, JuteError> {
        r.boolean(what)
    }
}

impl Field for Bytes {
    fn put<B: BufMut>(&self, out: &mut B) {
        put_buffer(out, self)
    }
    fn get<B: Buf>(r: &mut Reader<B>, what: &'static str) -> Result<Self, JuteError> {
        r.bytes(what)
    }
}

impl Field for String {
    fn put<B: BufMut>(&self, out: &mut B) {
        put_ustring(out, self)
    }
    fn get<B: Buf>(r: &mut Reader<B>, what: &'static str) -> Result<Self, JuteError> {
        r.ustring(what)
    }
}

impl<T: Field> Field for Vec<T> {
    fn put<B: BufMut>(&self, out: &mut B) {
        put_int(out, self.len() as i32);
        for v in self {
            v.put(out);
        }
    }
    fn get<B: Buf>(r: &mut Reader<B>, what: &'static str) -> Result<Self, JuteError> {
        r.vector(what, |r| T::get(r, what))
    }
}

macro_rules! record {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$fmeta:meta])* pub $field:ident : $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty,)*
        }

        impl Record for $name {
            #[allow(unused_variables)]
            fn write<B: BufMut>(&self, out: &mut B) {
                $(Field::put(&self.$field, out);)*
            }
            #[allow(unused_variables)]
            fn read<B: Buf>(r: &mut Reader<B>) -> Result<Self, JuteError> {
                Ok($name {
                    $($field: Field::get(r, concat!(stringify!($name), ".", stringify!($field)))?,)*
                })
            }
        }

        impl Field for $name {
            fn put<B: BufMut>(&self, out: &mut B) {
                Record::write(self, out)
            }
            fn get<B: Buf>(r: &mut Reader<B>, _what: &'static str) -> Result<Self, JuteError> {
                <$name as Record>::read(r)
            }
        }
    };
}

record! {
    /// An identity: `world:anyone`, `digest:user:hash`, `ip:10.0.0.0/8`, `auth:`, `super:...`.
    pub struct Id {
        /// Scheme name.
        pub scheme: String,
        /// Scheme-specific id.
        pub id: String,
    }
}

record! {
    /// One ACL entry: permission bits granted to an identity.
    pub struct Acl {
        /// Bitwise OR of [`crate::perms`].
        pub perms: i32,
        /// Who gets them.
        pub id: Id,
    }
}

record! {
    /// A znode's metadata (68 bytes on the wire).
    pub struct Stat {
        /// zxid of the create.
        pub czxid: i64,
        /// zxid of the last setData (or create).
        pub mzxid: i64,
        /// Create time, ms since the epoch.
        pub ctime: i64,
        /// Last modification time, ms since the epoch.
        pub mtime: i64,
        /// Data version.
        pub version: i32,
        /// Child list version.
        pub cversion: i32,
        /// ACL version.
        pub aversion: i32,
        /// Owning session, container marker or TTL encoding.
        pub ephemeral_owner: i64,
        /// Length of the data.
        pub data_length: i32,
        /// Number of children.
        pub num_children: i32,
        /// zxid of the last child list change.
        pub pzxid: i64,
    }
}

record! {
    /// Header of every client request after the handshake.
    pub struct RequestHeader {
        /// Client-assigned id, echoed in the reply; negative values are special (see `xid`).
        pub xid: i32,
        /// Opcode.
        pub op: i32,
    }
}

record! {
    /// Header of every server frame after the handshake.
    pub struct ReplyHeader {
        /// The request's xid, or -1 for a notification.
        pub xid: i32,
        /// The txn zxid for writes, the last processed zxid otherwise.
        pub zxid: i64,
        /// Result code; non-zero means no body follows.
        pub err: i32,
    }
}

record! {
    /// create (1), create2 (15) and createContainer (19).
    pub struct CreateRequest {
        /// Requested path (a sequential suffix is appended by the server).
        pub path: String,
        /// Initial data.
        pub data: Bytes,
        /// Initial ACL.
        pub acl: Vec<Acl>,
        /// Create mode flags.
        pub flags: i32,
    }
}

record! {
    /// createTTL (21).
    pub struct CreateTtlRequest {
        /// Requested path.
        pub path: String,
        /// Initial data.
        pub data: Bytes,
        /// Initial ACL.
        pub acl: Vec<Acl>,
        /// Create mode flags (5 or 6).
        pub flags: i32,
        /// Time to live, ms.
        pub ttl: i64,
    }
}

record! {
    /// Reply to create (1).
    pub struct CreateResponse {
        /// Actual path, including any sequential suffix.
        pub path: String,
    }
}

record! {
    /// Reply to create2, createContainer and createTTL.
    pub struct Create2Response {
        /// Actual path.
        pub path: String,
        /// The new node's Stat.
        pub stat: Stat,
    }
}

record! {
    /// delete (2).
    pub struct DeleteRequest {
        /// Path.
        pub path: String,
        /// Expected data version, -1 for any.
        pub version: i32,
    }
}

record! {
    /// exists (3), getData (4), getChildren (8), getChildren2 (12).
    pub struct PathWatchRequest {
        /// Path.
        pub path: String,
        /// Leave a watch.
        pub watch: bool,
    }
}

record! {
    /// Reply carrying only a Stat: exists, setData, setACL.
    pub struct StatResponse {
        /// The node's Stat.
        pub stat: Stat,
    }
}

record! {
    /// Reply to getData.
    pub struct GetDataResponse {
        /// Node data.
        pub data: Bytes,
        /// Node Stat.
        pub stat: Stat,
    }
}

record! {
    /// setData (5).
    pub struct SetDataRequest {
        /// Path.
        pub path: String,
        /// New data.
        pub data: Bytes,
        /// Expected data version, -1 for any.
        pub version: i32,
    }
}

record! {
    /// Requests that carry only a path: getACL (6), sync (9), getAllChildrenNumber (104),
    /// getEphemerals (103); also the sync reply.
    pub struct PathRequest {
        /// Path (or prefix for getEphemerals).
        pub path: String,
    }
}

record! {
    /// Reply to getACL.
    pub struct GetAclResponse {
        /// The ACL.
        pub acl: Vec<Acl>,
        /// Node Stat.
        pub stat: Stat,
    }
}

record! {
    /// setACL (7).
    pub struct SetAclRequest {
        /// Path.
        pub path: String,
        /// New ACL.
        pub acl: Vec<Acl>,
        /// Expected ACL version (aversion), -1 for any.
        pub version: i32,
    }
}

record! {
    /// Reply to getChildren.
    pub struct GetChildrenResponse {
        /// Child names.
        pub children: Vec<String>,
    }
}

record! {
    /// Reply to getChildren2.
    pub struct GetChildren2Response {
        /// Child names.
        pub children: Vec<String>,
        /// Parent Stat.
        pub stat: Stat,
    }
}

record! {
    /// check (13), used inside multi.
    pub struct CheckVersionRequest {
        /// Path.
        pub path: String,
        /// Expected data version, -1 for any.
        pub version: i32,
    }
}

record! {
    /// auth (100), xid -4.
    pub struct AuthPacket {
        /// Always 0.
        pub auth_type: i32,
        /// Scheme (`digest`, `ip`, ...).
        pub scheme: String,
        /// Scheme credentials (`user:password` for digest).
        pub auth: Bytes,
    }
}

record! {
    /// setWatches (101), xid -8.
    pub struct SetWatches {
        /// Last zxid the client saw.
        pub relative_zxid: i64,
        /// Paths with data watches.
        pub data_watches: Vec<String>,
        /// Paths with exist watches.
        pub exist_watches: Vec<String>,
        /// Paths with child watches.
        pub child_watches: Vec<String>,
    }
}

record! {
    /// setWatches2 (105), xid -8.
    pub struct SetWatches2 {
        /// Last zxid the client saw.
        pub relative_zxid: i64,
        /// Paths with data watches.
        pub data_watches: Vec<String>,
        /// Paths with exist watches.
        pub exist_watches: Vec<String>,
        /// Paths with child watches.
        pub child_watches: Vec<String>,
        /// Paths with persistent watches.
        pub persistent_watches: Vec<String>,
        /// Paths with persistent recursive watches.
        pub persistent_recursive_watches: Vec<String>,
    }
}

record! {
    /// addWatch (106).
    pub struct AddWatchRequest {
        /// Path.
        pub path: String,
        /// 0 persistent, 1 persistent recursive.
        pub mode: i32,
    }
}

record! {
    /// checkWatches (17) and removeWatches (18).
    pub struct WatchesRequest {
        /// Path.
        pub path: String,
        /// 1 children, 2 data, 3 any.
        pub watcher_type: i32,
    }
}

record! {
    /// Reply to getEphemerals.
    pub struct GetEphemeralsResponse {
        /// Full paths.
        pub ephemerals: Vec<String>,
    }
}

record! {
    /// Reply to getAllChildrenNumber.
    pub struct GetAllChildrenNumberResponse {
        /// Number of descendants.
        pub total_number: i32,
    }
}

record! {
    /// reconfig (16).
    pub struct ReconfigRequest {
        /// Servers to add.
        pub joining_servers: String,
        /// Servers to remove.
        pub leaving_servers: String,
        /// New membership.
        pub new_members: String,
        /// Expected config version.
        pub cur_config_id: i64,
    }
}

record! {
    /// sasl (102) request and reply.
    pub struct SaslToken {
        /// SASL token.
        pub token: Bytes,
    }
}

record! {
    /// One authenticated identity in a whoAmI reply.
    pub struct ClientInfo {
        /// Scheme.
        pub auth_scheme: String,
        /// Id.
        pub user: String,
    }
}

record! {
    /// Reply to whoAmI (107).
    pub struct WhoAmIResponse {
        /// Every id the connection holds.
        pub client_info: Vec<ClientInfo>,
    }
}

record! {
    /// Body of a notification (xid -1).
    pub struct WatcherEvent {
        /// Event type code.
        pub event_type: i32,
        /// Keeper state (3 = SyncConnected).
        pub state: i32,
        /// Absolute path.
        pub path: String,
    }
}

record! {
    /// A bare result code: addWatch reply, multi ErrorResult.
    pub struct ErrorResponse {
        /// Result code.
        pub err: i32,
    }
}

record! {
    /// Precedes every op and result inside multi, and terminates the list (type -1, done).
    pub struct MultiHeader {
        /// Opcode of the following record, or -1.
        pub op_type: i32,
        /// True only on the terminator.
        pub done: bool,
        /// Result code (-1 in requests).
        pub err: i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_68_bytes() {
        assert_eq!(Stat::default().to_bytes().len(), 68);
    }

    #[test]
    fn reply_header_layout() {
        let h = ReplyHeader {
            xid: -2,
            zxid: 0x100,
            err: -101,
        };
        assert_eq!(
            &h.to_bytes()[..],
            &[0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0x9b]
        );
    }

    #[test]
    fn create_request_layout() {
        let req = CreateRequest {
            path: "/a".into(),
            data: Bytes::from_static(b"x"),
            acl: vec![Acl {
                perms: 31,
                id: Id {
                    scheme: "world".into(),
                    id: "anyone".into(),
                },
            }],
            flags: 1,
        };
        let mut want = vec![
            0, 0, 0, 2, b'/', b'a', 0, 0, 0, 1, b'x', 0, 0, 0, 1, 0, 0, 0, 31,
        ];
        want.extend_from_slice(&[0, 0, 0, 5]);
        want.extend_from_slice(b"world");
        want.extend_from_slice(&[0, 0, 0, 6]);
        want.extend_from_slice(b"anyone");
        want.extend_from_slice(&[0, 0, 0, 1]);
        assert_eq!(&req.to_bytes()[..], &want[..]);
        assert_eq!(CreateRequest::from_slice(&want, 1 << 20).unwrap(), req);
    }

    #[test]
    fn null_acl_vector_reads_empty() {
        let data = [0u8, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0];
        let req = CreateRequest::from_slice(&data, 100).unwrap();
        assert!(req.acl.is_empty());
        assert!(req.path.is_empty());
    }
}
