"""kazoo against Courier's keeper: sessions, CRUD, watches, ephemerals, sequential nodes,
transactions, ACLs and kazoo's recipes (Lock, Election, Barrier, Counter, Queue, TreeCache)."""
import os
import threading
import time

import pytest
from kazoo.exceptions import (
    BadVersionError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
)
from kazoo.protocol.states import EventType, KazooState
from kazoo.security import make_digest_acl


def wait_for(pred, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def test_session_connects(zk):
    assert zk.state == KazooState.CONNECTED
    assert zk.client_id[0] != 0
    assert zk.exists("/zookeeper") is not None


def test_crud_and_stat(zk, base):
    p = zk.create(base + "/a", b"hello")
    assert p == base + "/a"
    data, stat = zk.get(p)
    assert data == b"hello"
    assert stat.version == 0 and stat.dataLength == 5 and stat.numChildren == 0
    assert stat.czxid == stat.mzxid
    st = zk.set(p, b"world")
    assert st.version == 1 and st.mzxid > st.czxid
    with pytest.raises(BadVersionError):
        zk.set(p, b"x", version=0)
    with pytest.raises(NodeExistsError):
        zk.create(p)
    with pytest.raises(NoNodeError):
        zk.create(base + "/missing/child")
    zk.create(p + "/c1")
    with pytest.raises(NotEmptyError):
        zk.delete(p)
    parent = zk.exists(p)
    assert parent.numChildren == 1 and parent.cversion == 1
    assert zk.get_children(p) == ["c1"]
    zk.delete(p, recursive=True)
    assert zk.exists(p) is None
    with pytest.raises(NoNodeError):
        zk.get(p)


def test_create_with_stat_and_children_with_stat(zk, base):
    path, stat = zk.create(base + "/s", b"v", include_data=True)
    assert path == base + "/s" and stat.dataLength == 1
    children, pstat = zk.get_children(base, include_data=True)
    assert children == ["s"] and pstat.numChildren == 1


def test_sequential_nodes(zk, base):
    a = zk.create(base + "/q-", sequence=True)
    b = zk.create(base + "/q-", sequence=True)
    assert a == base + "/q-0000000000"
    assert b == base + "/q-0000000001"


def test_ephemeral_removed_when_session_closes(make_client, zk, base):
    other = make_client()
    other.create(base + "/eph", ephemeral=True)
    assert zk.exists(base + "/eph").ephemeralOwner == other.client_id[0]
    gone = threading.Event()

    def watch(event):
        if event.type == EventType.DELETED:
            gone.set()

    zk.exists(base + "/eph", watch=watch)
    other.stop()
    assert gone.wait(10)
    assert zk.exists(base + "/eph") is None


def test_data_and_child_watches(zk, make_client, base):
    writer = make_client()
    events = []
    got = threading.Event()

    def w(event):
        events.append((event.type, event.path))
        got.set()

    zk.create(base + "/w", b"0")
    zk.get(base + "/w", watch=w)
    writer.set(base + "/w", b"1")
    assert got.wait(10)
    assert events == [(EventType.CHANGED, base + "/w")]
    got.clear()
    zk.get_children(base, watch=w)
    writer.create(base + "/w2")
    assert got.wait(10)
    assert events[-1] == (EventType.CHILD, base)
    # One-shot: a second change does not fire again.
    writer.set(base + "/w", b"2")
    time.sleep(0.2)
    assert len(events) == 2


# Frame-level ordering (event before the reply that caused it) is checked by the Rust test
# `watches::event_arrives_before_the_reply_that_caused_it`: kazoo runs watch callbacks on a
# separate thread, so callback order against a returned call is not observable here.


def test_datawatch_and_childrenwatch_recipes(zk, make_client, base):
    writer = make_client()
    seen = []
    kids = []
    zk.create(base + "/dw", b"a")

    @zk.DataWatch(base + "/dw")
    def on_data(data, stat):
        seen.append(data)

    @zk.ChildrenWatch(base)
    def on_children(children):
        kids.append(sorted(children))

    writer.set(base + "/dw", b"b")
    writer.create(base + "/k")
    assert wait_for(lambda: b"b" in seen)
    assert wait_for(lambda: kids and "k" in kids[-1])


def test_transaction_all_or_nothing(zk, base):
    t = zk.transaction()
    t.create(base + "/tx1", b"1")
    t.create(base + "/tx1/child")
    t.set_data(base + "/tx1", b"2")
    results = t.commit()
    assert results[0] == base + "/tx1"
    assert zk.get(base + "/tx1")[0] == b"2"
    t = zk.transaction()
    t.create(base + "/tx2")
    t.check(base + "/tx1", 99)
    results = t.commit()
    assert isinstance(results[1], BadVersionError)
    assert zk.exists(base + "/tx2") is None


def test_digest_acl(make_client, base):
    owner = make_client(auth_data=[("digest", "alice:secret")])
    acl = make_digest_acl("alice", "secret", all=True)
    owner.create(base + "/secret", b"x", acl=[acl])
    assert owner.get(base + "/secret")[0] == b"x"
    stranger = make_client()
    with pytest.raises(NoAuthError):
        stranger.get(base + "/secret")
    with pytest.raises(NoAuthError):
        stranger.get_acls(base + "/secret")
    acls, _ = owner.get_acls(base + "/secret")
    assert acls[0].id.scheme == "digest" and acls[0].id.id == acl.id.id


def test_lock(make_client, base):
    a = make_client()
    b = make_client()
    lock_a = a.Lock(base + "/lock", "a")
    lock_b = b.Lock(base + "/lock", "b")
    assert lock_a.acquire(timeout=10)
    assert not lock_b.acquire(blocking=False)
    got = threading.Event()

    def take():
        if lock_b.acquire(timeout=10):
            got.set()

    t = threading.Thread(target=take)
    t.start()
    time.sleep(0.2)
    assert not got.is_set()
    lock_a.release()
    t.join(15)
    assert got.is_set()
    lock_b.release()


def test_election(make_client, base):
    a = make_client()
    b = make_client()
    leaders = []
    done = threading.Event()

    def lead(name):
        def run():
            leaders.append(name)
            done.wait(10)
        return run

    ea = a.Election(base + "/election", "a")
    eb = b.Election(base + "/election", "b")
    ta = threading.Thread(target=ea.run, args=(lead("a"),))
    ta.start()
    assert wait_for(lambda: leaders == ["a"])
    tb = threading.Thread(target=eb.run, args=(lead("b"),))
    tb.start()
    time.sleep(0.3)
    assert leaders == ["a"]
    assert sorted(ea.contenders()) == ["a", "b"]
    done.set()
    ta.join(10)
    assert wait_for(lambda: leaders == ["a", "b"])
    tb.join(10)


def test_barrier(make_client, base):
    a = make_client()
    b = make_client()
    barrier = a.Barrier(base + "/barrier")
    barrier.create()
    passed = threading.Event()

    def waiter():
        if b.Barrier(base + "/barrier").wait(10):
            passed.set()

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.2)
    assert not passed.is_set()
    barrier.remove()
    t.join(10)
    assert passed.is_set()


def test_counter(make_client, base):
    a = make_client()
    b = make_client()
    ca = a.Counter(base + "/counter")
    cb = b.Counter(base + "/counter")

    def bump(c):
        for _ in range(20):
            c += 1

    ta = threading.Thread(target=bump, args=(ca,))
    tb = threading.Thread(target=bump, args=(cb,))
    ta.start()
    tb.start()
    ta.join(30)
    tb.join(30)
    assert a.Counter(base + "/counter").value == 40


def test_queue(zk, make_client, base):
    producer = make_client()
    q = producer.Queue(base + "/queue")
    for i in range(5):
        q.put(str(i).encode())
    q.put(b"urgent", priority=10)
    consumer = zk.Queue(base + "/queue")
    assert len(consumer) == 6
    got = [consumer.get() for _ in range(6)]
    # Lower numbers are higher priority in kazoo (default 100).
    assert got == [b"urgent", b"0", b"1", b"2", b"3", b"4"]
    assert consumer.get() is None


def test_tree_cache(zk, make_client, base):
    from kazoo.recipe.cache import TreeCache, TreeEvent

    writer = make_client()
    writer.create(base + "/tree/a/b", b"1", makepath=True)
    events = []
    cache = TreeCache(zk, base + "/tree")
    cache.listen(lambda e: events.append(e))
    cache.start()
    assert wait_for(lambda: any(e.event_type == TreeEvent.INITIALIZED for e in events))
    assert cache.get_data(base + "/tree/a/b").data == b"1"
    writer.set(base + "/tree/a/b", b"2")
    writer.create(base + "/tree/c", b"3")
    assert wait_for(lambda: cache.get_data(base + "/tree/c") is not None)
    assert wait_for(lambda: cache.get_data(base + "/tree/a/b").data == b"2")
    assert sorted(cache.get_children(base + "/tree")) == ["a", "c"]
    cache.close()


def test_session_resume_keeps_ephemerals(make_client, zk, base):
    from kazoo.client import KazooClient

    first = make_client(timeout=10)
    first.create(base + "/keep", ephemeral=True)
    sid, pwd = first.client_id
    # A second client resumes the same session; the ephemeral stays.
    second = KazooClient(hosts=os.environ["KEEPER_ADDR"], client_id=(sid, pwd), timeout=10)
    second.start(timeout=10)
    try:
        assert second.client_id[0] == sid
        assert zk.exists(base + "/keep").ephemeralOwner == sid
    finally:
        second.stop()
        second.close()
    assert wait_for(lambda: zk.exists(base + "/keep") is None)


def test_four_letter_words():
    import os
    import socket

    host, port = os.environ.get("KEEPER_ADDR", "").rsplit(":", 1) if os.environ.get("KEEPER_ADDR") else (None, None)
    if host is None:
        pytest.skip("KEEPER_ADDR not set")
    with socket.create_connection((host, int(port))) as s:
        s.sendall(b"ruok")
        assert s.recv(16) == b"imok"
