//! Every operation over real TCP with ZooKeeper's exact error codes.

mod common;

use bytes::Bytes;
use common::*;
use courier_keeper::KeeperHandle;
use courier_keeper_proto::*;

async fn server() -> (KeeperHandle, tempfile::TempDir) {
    start_keeper(|c| {
        c.max_data_bytes = 1000;
        c.super_digest = Some(courier_keeper::acl::digest_id("super:admin"));
    })
    .await
}

fn create_req(path: &str, flags: i32) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: Bytes::from_static(b"d"),
        acl: acl_open(),
        flags,
    }
}

#[tokio::test]
async fn crud_and_stat() {
    let (s, _d) = server().await;
    let mut c = Client::connect(s.addr).await;
    assert_eq!(c.create("/a", b"x", 0).await, Ok("/a".into()));
    let (data, st) = c.get("/a", false).await.unwrap();
    assert_eq!(&data[..], b"x");
    assert_eq!(
        (st.version, st.data_length, st.czxid, st.mzxid, st.pzxid),
        (0, 1, st.czxid, st.czxid, st.czxid)
    );
    assert_eq!(st.ctime, st.mtime);
    let st2 = c.set("/a", b"yy", 0).await.unwrap();
    assert_eq!((st2.version, st2.data_length), (1, 2));
    assert!(st2.mzxid > st.mzxid);
    assert_eq!(
        c.set("/a", b"z", 0).await,
        Err(ErrorCode::BadVersion.code())
    );
    assert_eq!(
        c.create("/a", b"", 0).await,
        Err(ErrorCode::NodeExists.code())
    );
    assert_eq!(
        c.create("/no/child", b"", 0).await,
        Err(ErrorCode::NoNode.code())
    );
    assert_eq!(c.create("/a/c", b"", 0).await, Ok("/a/c".into()));
    let parent = c.exists("/a", false).await.unwrap();
    assert_eq!((parent.num_children, parent.cversion), (1, 1));
    assert!(parent.pzxid > parent.czxid);
    assert_eq!(c.delete("/a", -1).await, ErrorCode::NotEmpty.code());
    assert_eq!(c.delete("/a/c", 5).await, ErrorCode::BadVersion.code());
    assert_eq!(c.delete("/a/c", 0).await, 0);
    assert_eq!(c.delete("/a/c", -1).await, ErrorCode::NoNode.code());
    assert_eq!(c.children("/a", false).await, Ok(vec![]));
    assert_eq!(
        c.exists("/nope", false).await,
        Err(ErrorCode::NoNode.code())
    );
    assert_eq!(c.get("/nope", false).await, Err(ErrorCode::NoNode.code()));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn create_flavours_and_argument_errors() {
    let (s, _d) = server().await;
    let mut c = Client::connect(s.addr).await;
    // Bad flags, bad paths.
    assert_eq!(
        c.create("/f", b"", 7).await,
        Err(ErrorCode::BadArguments.code())
    );
    assert_eq!(
        c.create("noslash", b"", 0).await,
        Err(ErrorCode::BadArguments.code())
    );
    assert_eq!(
        c.create("/a//b", b"", 0).await,
        Err(ErrorCode::NoNode.code())
    );
    assert_eq!(c.create("/x/", b"", 0).await, Err(ErrorCode::NoNode.code()));
    assert_eq!(
        c.create("/.", b"", 0).await,
        Err(ErrorCode::BadArguments.code())
    );
    // Data limit.
    assert_eq!(
        c.create("/big", &[0u8; 1001], 0).await,
        Err(ErrorCode::BadArguments.code())
    );
    // Empty ACL.
    let (h, _) = c
        .call(Request::Create(CreateRequest {
            acl: vec![],
            ..create_req("/acl", 0)
        }))
        .await;
    assert_eq!(h.err, ErrorCode::InvalidAcl.code());
    // Ephemeral parent.
    assert_eq!(c.create("/e", b"", 1).await, Ok("/e".into()));
    assert_eq!(
        c.create("/e/c", b"", 0).await,
        Err(ErrorCode::NoChildrenForEphemerals.code())
    );
    assert_eq!(
        c.exists("/e", false).await.unwrap().ephemeral_owner,
        c.session_id
    );
    // Sequential names from the parent's cversion.
    c.create("/q", b"", 0).await.unwrap();
    assert_eq!(
        c.create("/q/n-", b"", 2).await,
        Ok("/q/n-0000000000".into())
    );
    c.create("/q/other", b"", 0).await.unwrap();
    assert_eq!(
        c.create("/q/n-", b"", 3).await,
        Ok("/q/n-0000000002".into())
    );
    // create2 returns the Stat.
    let (h, body) = c.call(Request::Create2(create_req("/c2", 0))).await;
    assert_eq!(h.err, 0);
    let r = Create2Response::from_slice(&body, LIMIT).unwrap();
    assert_eq!(
        (r.path.as_str(), r.stat.data_length, r.stat.czxid),
        ("/c2", 1, h.zxid)
    );
    // Container.
    let (h, body) = c
        .call(Request::CreateContainer(create_req("/box", 4)))
        .await;
    assert_eq!(h.err, 0);
    assert_eq!(
        Create2Response::from_slice(&body, LIMIT)
            .unwrap()
            .stat
            .ephemeral_owner,
        0,
        "ZooKeeper shows containers with ephemeralOwner 0"
    );
    let (h, _) = c
        .call(Request::CreateContainer(create_req("/box2", 0)))
        .await;
    assert_eq!(h.err, ErrorCode::BadArguments.code());
    // TTL.
    let ttl = |flags, ttl| {
        Request::CreateTtl(CreateTtlRequest {
            path: "/ttl".into(),
            data: Bytes::new(),
            acl: acl_open(),
            flags,
            ttl,
        })
    };
    assert_eq!(c.code(ttl(5, 0)).await, ErrorCode::BadArguments.code());
    assert_eq!(c.code(ttl(1, 100)).await, ErrorCode::BadArguments.code());
    let (h, body) = c.call(ttl(5, 60_000)).await;
    assert_eq!(h.err, 0);
    assert_eq!(
        Create2Response::from_slice(&body, LIMIT)
            .unwrap()
            .stat
            .ephemeral_owner,
        0,
        "ZooKeeper shows TTL nodes with ephemeralOwner 0"
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn special_nodes() {
    let (s, _d) = server().await;
    let mut c = Client::connect(s.addr).await;
    assert!(c.exists("/zookeeper/config", false).await.is_ok());
    assert!(c.exists("/zookeeper/quota", false).await.is_ok());
    assert_eq!(
        c.delete("/zookeeper", -1).await,
        ErrorCode::BadArguments.code()
    );
    assert_eq!(
        c.set("/zookeeper/config", b"x", -1).await,
        Err(ErrorCode::NoAuth.code())
    );
    assert_eq!(
        c.create("/zookeeper/mine", b"", 0).await,
        Ok("/zookeeper/mine".into())
    );
    s.stop().await.unwrap();
}

#[tokio::test]
async fn children_counts_ephemerals_sync_whoami() {
    let (s, _d) = server().await;
    let mut c = Client::connect(s.addr).await;
    c.create("/p", b"", 0).await.unwrap();
    c.create("/p/a", b"", 0).await.unwrap();
    c.create("/p/a/b", b"", 0).await.unwrap();
    c.create("/p/e1", b"", 1).await.unwrap();
    let (h, body) = c
        .call(Request::GetChildren2(PathWatchRequest {
            path: "/p".into(),
            watch: false,
        }))
        .await;
    assert_eq!(h.err, 0);
    let r = GetChildren2Response::from_slice(&body, LIMIT).unwrap();
    assert_eq!(r.children, vec!["a".to_string(), "e1".to_string()]);
    assert_eq!(r.stat.num_children, 2);
    let (_, body) = c
        .call(Request::GetAllChildrenNumber(PathRequest {
            path: "/p".into(),
        }))
        .await;
    assert_eq!(
        GetAllChildrenNumberResponse::from_slice(&body, LIMIT)
            .unwrap()
            .total_number,
        3
    );
    let (_, body) = c
        .call(Request::GetEphemerals(PathRequest { path: "/p".into() }))
        .await;
    assert_eq!(
        GetEphemeralsResponse::from_slice(&body, LIMIT)
            .unwrap()
            .ephemerals,
        vec!["/p/e1".to_string()]
    );
    let (_, body) = c
        .call(Request::GetEphemerals(PathRequest {
            path: "/zzz".into(),
        }))
        .await;
    assert!(GetEphemeralsResponse::from_slice(&body, LIMIT)
        .unwrap()
        .ephemerals
        .is_empty());
    let (h, body) = c
        .call(Request::Sync(PathRequest { path: "/p".into() }))
        .await;
    assert_eq!(
        (
            h.err,
            PathRequest::from_slice(&body, LIMIT).unwrap().path.as_str()
        ),
        (0, "/p")
    );
    let (_, body) = c.call(Request::WhoAmI).await;
    let who = WhoAmIResponse::from_slice(&body, LIMIT).unwrap();
    assert_eq!(who.client_info[0].auth_scheme, "ip");
    assert_eq!(who.client_info[0].user, "127.0.0.1");
    let (h, _) = c
        .call(Request::Check(CheckVersionRequest {
            path: "/p".into(),
            version: 3,
        }))
        .await;
    assert_eq!(h.err, ErrorCode::BadVersion.code());
    let (h, _) = c.call(Request::Reconfig(ReconfigRequest::default())).await;
    assert_eq!(h.err, ErrorCode::ReconfigDisabled.code());
    s.stop().await.unwrap();
}

#[tokio::test]
async fn acls_digest_super_and_versions() {
    let (s, _d) = server().await;
    let mut alice = Client::connect(s.addr).await;
    let (h, _) = alice
        .call(Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: Bytes::from_static(b"alice:pw"),
        }))
        .await;
    assert_eq!((h.xid, h.err), (xid::AUTH, 0));
    let mine = vec![Acl {
        perms: perms::ALL,
        id: Id {
            scheme: "auth".into(),
            id: String::new(),
        },
    }];
    let (h, _) = alice
        .call(Request::Create(CreateRequest {
            acl: mine.clone(),
            ..create_req("/s", 0)
        }))
        .await;
    assert_eq!(h.err, 0);
    let (_, body) = alice
        .call(Request::GetAcl(PathRequest { path: "/s".into() }))
        .await;
    let got = GetAclResponse::from_slice(&body, LIMIT).unwrap();
    assert_eq!(got.acl[0].id.id, courier_keeper::acl::digest_id("alice:pw"));

    let mut bob = Client::connect(s.addr).await;
    assert_eq!(bob.get("/s", false).await, Err(ErrorCode::NoAuth.code()));
    assert_eq!(bob.set("/s", b"", -1).await, Err(ErrorCode::NoAuth.code()));
    assert_eq!(
        bob.create("/s/c", b"", 0).await,
        Err(ErrorCode::NoAuth.code())
    );
    // `auth` scheme without any authenticated id.
    let (h, _) = bob
        .call(Request::Create(CreateRequest {
            acl: mine.clone(),
            ..create_req("/b", 0)
        }))
        .await;
    assert_eq!(h.err, ErrorCode::InvalidAcl.code());
    // exists on a node bob cannot read reports NOAUTH (the node exists).
    assert_eq!(bob.exists("/s", false).await, Err(ErrorCode::NoAuth.code()));

    // setACL checks ADMIN and the aversion.
    let (h, _) = alice
        .call(Request::SetAcl(SetAclRequest {
            path: "/s".into(),
            acl: acl_open(),
            version: 3,
        }))
        .await;
    assert_eq!(h.err, ErrorCode::BadVersion.code());
    let (h, body) = alice
        .call(Request::SetAcl(SetAclRequest {
            path: "/s".into(),
            acl: acl_open(),
            version: 0,
        }))
        .await;
    assert_eq!(h.err, 0);
    assert_eq!(
        StatResponse::from_slice(&body, LIMIT)
            .unwrap()
            .stat
            .aversion,
        1
    );
    assert!(bob.get("/s", false).await.is_ok());

    // super bypasses everything.
    let (h, _) = alice
        .call(Request::SetAcl(SetAclRequest {
            path: "/s".into(),
            acl: mine,
            version: -1,
        }))
        .await;
    assert_eq!(h.err, 0);
    let mut root = Client::connect(s.addr).await;
    root.call(Request::Auth(AuthPacket {
        auth_type: 0,
        scheme: "digest".into(),
        auth: Bytes::from_static(b"super:admin"),
    }))
    .await;
    assert!(root.get("/s", false).await.is_ok());

    // Unknown auth scheme: AUTHFAILED, then the connection closes.
    let (h, _) = bob
        .call(Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "kerberos".into(),
            auth: Bytes::new(),
        }))
        .await;
    assert_eq!(h.err, ErrorCode::AuthFailed.code());
    assert!(bob.is_closed().await);
    s.stop().await.unwrap();
}

#[tokio::test]
async fn multi_and_multi_read() {
    let (s, _d) = server().await;
    let mut c = Client::connect(s.addr).await;
    let ok = MultiRequest {
        ops: vec![
            MultiOp::Create(OpCode::Create, create_req("/m", 0)),
            MultiOp::Create(OpCode::Create2, create_req("/m/c", 0)),
            MultiOp::SetData(SetDataRequest {
                path: "/m".into(),
                data: Bytes::from_static(b"v"),
                version: 0,
            }),
            MultiOp::Check(CheckVersionRequest {
                path: "/m".into(),
                version: 1,
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/m/c".into(),
                version: -1,
            }),
        ],
    };
    let (h, body) = c.call(Request::Multi(ok)).await;
    assert_eq!(h.err, 0);
    let r = MultiResponse::from_slice(&body, LIMIT).unwrap();
    assert_eq!(r.results.len(), 5);
    assert_eq!(r.results[0], OpResult::Create("/m".into()));
    assert!(matches!(&r.results[1], OpResult::Create2(p, st) if p == "/m/c" && st.czxid == h.zxid));
    assert!(matches!(&r.results[2], OpResult::SetData(st) if st.version == 1));
    assert_eq!(r.results[3], OpResult::Check);
    assert_eq!(r.results[4], OpResult::Delete);
    // All sub-ops share one zxid.
    let st = c.exists("/m", false).await.unwrap();
    assert_eq!((st.czxid, st.mzxid, st.pzxid), (h.zxid, h.zxid, h.zxid));

    let bad = MultiRequest {
        ops: vec![
            MultiOp::Create(OpCode::Create, create_req("/n", 0)),
            MultiOp::Check(CheckVersionRequest {
                path: "/m".into(),
                version: 9,
            }),
            MultiOp::Delete(DeleteRequest {
                path: "/m".into(),
                version: -1,
            }),
        ],
    };
    let (h, body) = c.call(Request::Multi(bad)).await;
    assert_eq!(h.err, 0);
    let r = MultiResponse::from_slice(&body, LIMIT).unwrap();
    assert_eq!(
        r.results,
        vec![
            OpResult::Error(0),
            OpResult::Error(-103),
            OpResult::Error(-2)
        ]
    );
    assert_eq!(c.exists("/n", false).await, Err(ErrorCode::NoNode.code()));

    let (h, body) = c.call(Request::Multi(MultiRequest::default())).await;
    assert_eq!(h.err, 0);
    assert!(MultiResponse::from_slice(&body, LIMIT)
        .unwrap()
        .results
        .is_empty());

    let reads = MultiRequest {
        ops: vec![
            MultiOp::GetData(PathWatchRequest {
                path: "/m".into(),
                watch: false,
            }),
            MultiOp::GetChildren(PathWatchRequest {
                path: "/nope".into(),
                watch: false,
            }),
            MultiOp::GetChildren(PathWatchRequest {
                path: "/m".into(),
                watch: false,
            }),
        ],
    };
    let (h, body) = c.call(Request::MultiRead(reads)).await;
    assert_eq!(h.err, 0);
    let r = MultiResponse::from_slice(&body, LIMIT).unwrap();
    assert!(matches!(&r.results[0], OpResult::GetData(d, _) if &d[..] == b"v"));
    assert_eq!(r.results[1], OpResult::Error(ErrorCode::NoNode.code()));
    assert_eq!(r.results[2], OpResult::GetChildren(vec![]));
    s.stop().await.unwrap();
}

#[tokio::test]
async fn zxids_increase_and_reads_report_last_zxid() {
    let (s, _d) = server().await;
    let mut c = Client::connect(s.addr).await;
    let (h1, _) = c.call(Request::Create(create_req("/z1", 0))).await;
    let (h2, _) = c.call(Request::Create(create_req("/z2", 0))).await;
    assert_eq!(h2.zxid, h1.zxid + 1);
    let (h3, _) = c
        .call(Request::GetData(PathWatchRequest {
            path: "/z1".into(),
            watch: false,
        }))
        .await;
    assert_eq!(h3.zxid, h2.zxid);
    let (hp, _) = c.call(Request::Ping).await;
    assert_eq!((hp.xid, hp.zxid), (xid::PING, h2.zxid));
    // As in ZooKeeper, a rejected write takes a zxid (logged as an error txn).
    let (hf, _) = c.call(Request::Create(create_req("/z1", 0))).await;
    assert_eq!(
        (hf.err, hf.zxid),
        (ErrorCode::NodeExists.code(), h2.zxid + 1)
    );
    let failing = MultiRequest {
        ops: vec![MultiOp::Check(CheckVersionRequest {
            path: "/z1".into(),
            version: 7,
        })],
    };
    let (hm, _) = c.call(Request::Multi(failing)).await;
    assert_eq!((hm.err, hm.zxid), (0, hf.zxid + 1));
    let (h4, _) = c.call(Request::Create(create_req("/z3", 0))).await;
    assert_eq!(h4.zxid, hm.zxid + 1);
    s.stop().await.unwrap();
}

/// Details the differential test against Apache ZooKeeper 3.8 found (interop/zk/differential.py):
/// whoAmI shows a digest id by user name, getAllChildrenNumber("/") counts every node but the
/// root, and /zookeeper/config starts with aversion -1.
#[tokio::test]
async fn zookeeper_observed_details() {
    let (s, _dir) = server().await;
    let mut c = Client::connect(s.addr).await;
    let (h, _) = c
        .call(Request::Auth(AuthPacket {
            auth_type: 0,
            scheme: "digest".into(),
            auth: Bytes::from_static(b"alice:secret"),
        }))
        .await;
    assert_eq!(h.err, 0);
    let (_, body) = c.call(Request::WhoAmI).await;
    let who = WhoAmIResponse::from_slice(&body, LIMIT).unwrap();
    assert!(
        who.client_info
            .iter()
            .any(|i| i.auth_scheme == "digest" && i.user == "alice"),
        "{who:?}"
    );
    c.create("/a", b"", 0).await.unwrap();
    c.create("/a/b", b"", 0).await.unwrap();
    let (_, body) = c
        .call(Request::GetAllChildrenNumber(PathRequest {
            path: "/".into(),
        }))
        .await;
    // /zookeeper, /zookeeper/config, /zookeeper/quota, /a, /a/b
    assert_eq!(
        GetAllChildrenNumberResponse::from_slice(&body, LIMIT)
            .unwrap()
            .total_number,
        5
    );
    assert_eq!(
        c.exists("/zookeeper/config", false).await.unwrap().aversion,
        -1
    );
    s.stop().await.unwrap();
}
