//! Transactions: the deterministic, already-validated changes the write path logs and applies.
//!
//! A `TxnEntry` fixes everything non-deterministic (zxid, wall-clock time, session id, final
//! sequential path, ephemeral owner), so `StateMachine::apply` can replay it anywhere — from the
//! WAL today, from openraft's log later — and reach the same tree.
//!
//! Encoding (jute primitives): entry = zxid long, time long, session long, txn; txn = tag int then
//! its fields; Multi = count int then that many txns; Error = the code of a rejected write.
//! Tags are stable on-disk values.

use bytes::{Buf, BufMut, Bytes};
use courier_keeper_proto::jute::{put_buffer, put_int, put_long, put_records, put_ustring};
use courier_keeper_proto::{Acl, JuteError, Reader, Record};

/// One logged change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Txn {
    /// A new session with its negotiated timeout.
    CreateSession {
        /// Negotiated timeout, ms.
        timeout_ms: i32,
    },
    /// Closes the entry's session and deletes its ephemerals.
    CloseSession,
    /// Creates a node at a final path (sequence suffix already applied).
    Create {
        /// Final path.
        path: String,
        /// Data.
        data: Bytes,
        /// Fixed-up ACL.
        acl: Vec<Acl>,
        /// Owning session, container marker or TTL encoding (0 = persistent).
        ephemeral_owner: i64,
    },
    /// Deletes a node.
    Delete {
        /// Path.
        path: String,
    },
    /// Replaces data; bumps version.
    SetData {
        /// Path.
        path: String,
        /// New data.
        data: Bytes,
    },
    /// Replaces the ACL; bumps aversion.
    SetAcl {
        /// Path.
        path: String,
        /// New ACL.
        acl: Vec<Acl>,
    },
    /// A version check inside multi (no effect).
    Check {
        /// Path.
        path: String,
    },
    /// All-or-nothing group sharing one zxid.
    Multi(Vec<Txn>),
    /// A rejected client write: takes a zxid (as in ZooKeeper) and changes nothing.
    Error {
        /// The ZooKeeper error code returned.
        code: i32,
    },
}

/// A transaction with the context that makes it deterministic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnEntry {
    /// Its zxid; strictly increasing in the log.
    pub zxid: i64,
    /// Wall-clock ms since the epoch fixed when the txn was prepared.
    pub time_ms: i64,
    /// The session that issued it (owner for ephemerals, target of session txns).
    pub session_id: i64,
    /// The change.
    pub txn: Txn,
}

const TAG_CREATE_SESSION: i32 = 1;
const TAG_CLOSE_SESSION: i32 = 2;
const TAG_CREATE: i32 = 3;
const TAG_DELETE: i32 = 4;
const TAG_SET_DATA: i32 = 5;
const TAG_SET_ACL: i32 = 6;
const TAG_CHECK: i32 = 7;
const TAG_MULTI: i32 = 8;
const TAG_ERROR: i32 = 9;

impl Txn {
    fn write<B: BufMut>(&self, out: &mut B) {
        match self {
            Txn::CreateSession { timeout_ms } => {
                put_int(out, TAG_CREATE_SESSION);
                put_int(out, *timeout_ms);
            }
            Txn::CloseSession => put_int(out, TAG_CLOSE_SESSION),
            Txn::Create {
                path,
                data,
                acl,
                ephemeral_owner,
            } => {
                put_int(out, TAG_CREATE);
                put_ustring(out, path);
                put_buffer(out, data);
                put_records(out, acl);
                put_long(out, *ephemeral_owner);
            }
            Txn::Delete { path } => {
                put_int(out, TAG_DELETE);
                put_ustring(out, path);
            }
            Txn::SetData { path, data } => {
                put_int(out, TAG_SET_DATA);
                put_ustring(out, path);
                put_buffer(out, data);
            }
            Txn::SetAcl { path, acl } => {
                put_int(out, TAG_SET_ACL);
                put_ustring(out, path);
                put_records(out, acl);
            }
            Txn::Check { path } => {
                put_int(out, TAG_CHECK);
                put_ustring(out, path);
            }
            Txn::Error { code } => {
                put_int(out, TAG_ERROR);
                put_int(out, *code);
            }
            Txn::Multi(txns) => {
                put_int(out, TAG_MULTI);
                put_int(out, txns.len() as i32);
                for t in txns {
                    t.write(out);
                }
            }
        }
    }

    fn read<B: Buf>(r: &mut Reader<B>, depth: u32) -> Result<Txn, JuteError> {
        let tag = r.int("txn tag")?;
        Ok(match tag {
            TAG_CREATE_SESSION => Txn::CreateSession {
                timeout_ms: r.int("timeout")?,
            },
            TAG_CLOSE_SESSION => Txn::CloseSession,
            TAG_CREATE => Txn::Create {
                path: r.ustring("path")?,
                data: r.bytes("data")?,
                acl: r.vector("acl", Acl::read)?,
                ephemeral_owner: r.long("ephemeralOwner")?,
            },
            TAG_DELETE => Txn::Delete {
                path: r.ustring("path")?,
            },
            TAG_SET_DATA => Txn::SetData {
                path: r.ustring("path")?,
                data: r.bytes("data")?,
            },
            TAG_SET_ACL => Txn::SetAcl {
                path: r.ustring("path")?,
                acl: r.vector("acl", Acl::read)?,
            },
            TAG_CHECK => Txn::Check {
                path: r.ustring("path")?,
            },
            TAG_ERROR => Txn::Error {
                code: r.int("error code")?,
            },
            TAG_MULTI if depth == 0 => Txn::Multi(r.vector("multi", |r| Txn::read(r, 1))?),
            other => {
                return Err(JuteError::BadValue {
                    what: "txn tag",
                    value: i64::from(other),
                })
            }
        })
    }
}

impl Record for TxnEntry {
    fn write<B: BufMut>(&self, out: &mut B) {
        put_long(out, self.zxid);
        put_long(out, self.time_ms);
        put_long(out, self.session_id);
        self.txn.write(out);
    }

    fn read<B: Buf>(r: &mut Reader<B>) -> Result<Self, JuteError> {
        Ok(TxnEntry {
            zxid: r.long("zxid")?,
            time_ms: r.long("time")?,
            session_id: r.long("session")?,
            txn: Txn::read(r, 0)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use courier_keeper_proto::Id;
    use proptest::prelude::*;

    fn txn() -> impl Strategy<Value = Txn> {
        let leaf = prop_oneof![
            any::<i32>().prop_map(|timeout_ms| Txn::CreateSession { timeout_ms }),
            Just(Txn::CloseSession),
            (
                "/[a-z]{1,5}",
                proptest::collection::vec(any::<u8>(), 0..10),
                any::<i64>()
            )
                .prop_map(|(path, data, owner)| Txn::Create {
                    path,
                    data: Bytes::from(data),
                    acl: vec![Acl {
                        perms: 31,
                        id: Id {
                            scheme: "world".into(),
                            id: "anyone".into()
                        }
                    }],
                    ephemeral_owner: owner,
                }),
            "/[a-z]{1,5}".prop_map(|path| Txn::Delete { path }),
            ("/[a-z]{1,5}", proptest::collection::vec(any::<u8>(), 0..10)).prop_map(
                |(path, data)| Txn::SetData {
                    path,
                    data: Bytes::from(data)
                }
            ),
            "/[a-z]{1,5}".prop_map(|path| Txn::SetAcl { path, acl: vec![] }),
            "/[a-z]{1,5}".prop_map(|path| Txn::Check { path }),
            any::<i32>().prop_map(|code| Txn::Error { code }),
        ];
        prop_oneof![
            3 => leaf.clone(),
            1 => proptest::collection::vec(leaf, 0..4).prop_map(Txn::Multi),
        ]
    }

    proptest! {
        #[test]
        fn entries_round_trip(t in txn(), zxid in any::<i64>(), time in any::<i64>(), sid in any::<i64>()) {
            let e = TxnEntry { zxid, time_ms: time, session_id: sid, txn: t };
            let bytes = e.to_bytes();
            prop_assert_eq!(TxnEntry::from_slice(&bytes, 1 << 20).unwrap(), e);
        }
    }
}
