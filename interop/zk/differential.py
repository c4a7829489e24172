"""Differential scenario: one fixed script of several hundred ZooKeeper operations, printed as a
normalized transcript (one JSON object per line) so the output of Apache ZooKeeper and of
Courier's keeper can be compared line by line.

Usage: python3 differential.py HOST:PORT > transcript.jsonl

What is normalized, and why:
- zxids (Stat czxid/mzxid/pzxid) are replaced by their dense rank among every zxid the transcript
  saw, so only order and equality are compared (the two servers number their txns differently,
  e.g. ZooKeeper spends a zxid on a failed write).
- ctime/mtime are replaced by checks that hold on any correct server: both are within the run's
  wall-clock window and mtime >= ctime.
- session ids (ephemeralOwner) become the name of the scenario's client that owns them;
  container and TTL owners keep their special encoding.
- reply-header zxids are not recorded (see above); watch events are recorded per connection in
  wire order, drained at fixed points of the script.
- child lists are sorted: ZooKeeper returns them in hash-set order, which no client may rely on.
- a create2 sub-op of a multi is recorded by its path: ZooKeeper 3.8.0 answers it with a plain
  CreateResponse (type 1), Courier with Create2Response (type 15, path + Stat), which every
  client parses by the type it is given.

Behaviour that differs between ZooKeeper releases is left out on purpose: a persistent and a
persistent-recursive watch on the same path (ZOOKEEPER-4466, fixed after 3.8.0), removeWatches of
one type on a persistent watch (ZOOKEEPER-4472), and exists on a node the caller may not READ
(an ACL check added to exists in later releases; Courier checks it).
"""

import json
import sys
import time

sys.path.insert(0, __import__("os").path.dirname(__file__))
from zkwire import (  # noqa: E402
    ADMIN, ALL, CONTAINER, CREATE, DELETE, EPHEMERAL, EPHEMERAL_SEQUENTIAL, OPEN_ACL,
    PERSISTENT, PERSISTENT_SEQUENTIAL_WITH_TTL, PERSISTENT_WITH_TTL, READ, SEQUENTIAL, WRITE,
    Conn, Writer, digest_id,
)

START_MS = int(time.time() * 1000) - 1000
ROOT = "/diff"


class Zxid(int):
    pass


class Time(int):
    pass


class Session(int):
    pass


def stat(r):
    s = r.stat()
    for k in ("czxid", "mzxid", "pzxid"):
        s[k] = Zxid(s[k])
    s["ctime"], s["mtime"] = Time(s["ctime"]), Time(s["mtime"])
    s["ephemeralOwner"] = Session(s["ephemeralOwner"])
    return s


class Scenario:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.lines = []
        self.clients = {}
        self.names = {}

    # -- plumbing -----------------------------------------------------------------------------

    def connect(self, name, **kw):
        c = Conn(self.host, self.port, **kw)
        self.clients[name] = c
        self.names[c.session_id] = name
        self.log(name, "connect", [], "OK", {"timeout": c.timeout})
        return c

    def log(self, client, op, args, err, result=None):
        self.lines.append({"c": client, "op": op, "args": args, "err": err, "res": result})

    def call(self, client, op, args, body, parse):
        err, r, _ = self.clients[client].call(op, body)
        result = parse(r) if err == "OK" and parse else None
        self.log(client, op, args, err, result)
        return err, result

    def drain(self, *names):
        """Records the watch events each named connection has received so far. A cheap read
        first, because a server queues an event on a connection before it answers any later
        request on that connection."""
        for n in names or sorted(self.clients):
            c = self.clients[n]
            c.call("exists", Writer().string("/").bool(False).bytes())
            self.log(n, "events", [], "OK", [list(e) for e in c.take_events()])

    # -- operations ---------------------------------------------------------------------------

    def create(self, c, path, data=b"", flags=PERSISTENT, acl=OPEN_ACL, op="create", ttl=None):
        w = Writer().string(path).buffer(data).acl(acl).int(flags)
        if ttl is not None:
            w.long(ttl)
        if op == "create":
            return self.call(c, op, [path, flags], w.bytes(), lambda r: r.string())
        return self.call(c, op, [path, flags, ttl], w.bytes(),
                         lambda r: {"path": r.string(), "stat": stat(r)})

    def delete(self, c, path, version=-1):
        return self.call(c, "delete", [path, version],
                         Writer().string(path).int(version).bytes(), None)

    def exists(self, c, path, watch=False):
        return self.call(c, "exists", [path, watch],
                         Writer().string(path).bool(watch).bytes(), stat)

    def get(self, c, path, watch=False):
        return self.call(c, "getData", [path, watch], Writer().string(path).bool(watch).bytes(),
                         lambda r: {"data": _text(r.buffer()), "stat": stat(r)})

    def set(self, c, path, data, version=-1):
        return self.call(c, "setData", [path, _text(data), version],
                         Writer().string(path).buffer(data).int(version).bytes(), stat)

    def children(self, c, path, watch=False):
        return self.call(c, "getChildren", [path, watch],
                         Writer().string(path).bool(watch).bytes(), lambda r: sorted(r.strings()))

    def children2(self, c, path, watch=False):
        return self.call(c, "getChildren2", [path, watch],
                         Writer().string(path).bool(watch).bytes(),
                         lambda r: {"children": sorted(r.strings()), "stat": stat(r)})

    def get_acl(self, c, path):
        return self.call(c, "getACL", [path], Writer().string(path).bytes(),
                         lambda r: {"acl": r.acl(), "stat": stat(r)})

    def set_acl(self, c, path, acl, version=-1):
        return self.call(c, "setACL", [path, acl, version],
                         Writer().string(path).acl(acl).int(version).bytes(), stat)

    def auth(self, c, scheme, cred):
        err, _, _ = self.clients[c].call("auth", Writer().int(0).string(scheme)
                                         .buffer(cred.encode()).bytes(), xid=-4)
        self.log(c, "auth", [scheme, cred], err)

    def who_am_i(self, c):
        return self.call(c, "whoAmI", [], b"",
                         lambda r: sorted([r.string(), r.string()] for _ in range(r.int())))

    def sync(self, c, path):
        return self.call(c, "sync", [path], Writer().string(path).bytes(), lambda r: r.string())

    def all_children_number(self, c, path):
        return self.call(c, "getAllChildrenNumber", [path], Writer().string(path).bytes(),
                         lambda r: r.int())

    def ephemerals(self, c, prefix):
        return self.call(c, "getEphemerals", [prefix], Writer().string(prefix).bytes(),
                         lambda r: sorted(r.strings()))

    def add_watch(self, c, path, mode):
        return self.call(c, "addWatch", [path, mode], Writer().string(path).int(mode).bytes(),
                         None)

    def remove_watches(self, c, path, kind, op="removeWatches"):
        return self.call(c, op, [path, kind], Writer().string(path).int(kind).bytes(), None)

    def set_watches(self, c, relative_zxid, data, exist, child):
        """setWatches as a client sends it after reconnecting (xid -8): the server fires at
        once what changed after `relative_zxid`."""
        w = Writer().long(relative_zxid).strings(data).strings(exist).strings(child)
        err, _, _ = self.clients[c].call("setWatches", w.bytes(), xid=-8)
        self.log(c, "setWatches", [data, exist, child], err)

    def multi(self, c, ops, op="multi"):
        """ops: list of (name, args...) tuples; returns per-op results."""
        w = Writer()
        for o in ops:
            kind = o[0]
            if kind in ("create", "create2"):
                _, path, data, flags = o
                w.int(1 if kind == "create" else 15).bool(False).int(-1)
                w.string(path).buffer(data).acl(OPEN_ACL).int(flags)
            elif kind == "delete":
                w.int(2).bool(False).int(-1).string(o[1]).int(o[2])
            elif kind == "setData":
                w.int(5).bool(False).int(-1).string(o[1]).buffer(o[2]).int(o[3])
            elif kind == "check":
                w.int(13).bool(False).int(-1).string(o[1]).int(o[2])
            elif kind == "getData":
                w.int(4).bool(False).int(-1).string(o[1]).bool(False)
            elif kind == "getChildren":
                w.int(8).bool(False).int(-1).string(o[1]).bool(False)
        w.int(-1).bool(True).int(-1)

        def parse(r):
            out = []
            while True:
                t, done, err = r.int(), r.bool(), r.int()
                if done:
                    return out
                if t == -1:
                    out.append(["error", r.int()])
                elif t == 1:
                    out.append(["create", r.string()])
                elif t == 15:
                    out.append(["create", r.string()])
                    stat(r)
                elif t == 5:
                    out.append(["setData", stat(r)])
                elif t == 4:
                    out.append(["getData", _text(r.buffer()), stat(r)])
                elif t == 8:
                    out.append(["getChildren", sorted(r.strings())])
                else:
                    out.append([str(t), err])

        args = [[_text(a) if isinstance(a, bytes) else a for a in o] for o in ops]
        return self.call(c, op, args, w.bytes(), parse)

    def close(self, name):
        c = self.clients.pop(name)
        c.close()
        self.log(name, "close", [], "OK")

    # -- the scenario -------------------------------------------------------------------------

    def run(self):
        self.connect("a")
        self.connect("b")
        self.create("a", ROOT)
        self.create("a", ROOT)  # NODEEXISTS
        self.create("a", ROOT + "/x/y")  # NONODE (no parent)
        self.create("a", "bad")  # BADARGUMENTS (relative path)
        self.create("a", ROOT + "/")  # trailing slash
        self.create("a", ROOT + "/e", b"eph", EPHEMERAL)
        self.create("a", ROOT + "/e/child")  # NOCHILDRENFOREPHEMERALS
        self.create("a", ROOT + "/p", b"v0", op="create2")
        self.get("b", ROOT + "/p")
        self.exists("b", ROOT + "/nothing")

        # setData versions, delete versions, BADVERSION
        for i in range(20):
            self.set("a", ROOT + "/p", f"v{i + 1}".encode(), i)
        self.set("a", ROOT + "/p", b"stale", 3)
        self.set("a", ROOT + "/p", b"any", -1)
        self.set("a", ROOT + "/missing", b"x", -1)
        self.get("a", ROOT + "/p")
        self.create("a", ROOT + "/p/c1")
        self.delete("a", ROOT + "/p")  # NOTEMPTY
        self.delete("a", ROOT + "/p/c1", 5)  # BADVERSION
        self.delete("a", ROOT + "/p/c1", 0)
        self.delete("a", ROOT + "/p/c1")  # NONODE
        self.children2("a", ROOT + "/p")
        self.exists("a", ROOT + "/p")

        # sequential nodes share the parent's counter
        self.create("a", ROOT + "/seq")
        for i in range(12):
            self.create("a", ROOT + "/seq/n-", str(i).encode(), SEQUENTIAL)
            if i % 3 == 0:
                self.create("a", ROOT + "/seq/plain" + str(i))
        self.create("b", ROOT + "/seq/e-", b"", EPHEMERAL_SEQUENTIAL)
        self.children("a", ROOT + "/seq")
        self.children2("a", ROOT + "/seq")
        self.delete("a", ROOT + "/seq/n-0000000001")
        self.create("a", ROOT + "/seq/n-", b"", SEQUENTIAL, op="create2")
        self.all_children_number("a", ROOT)
        self.all_children_number("a", ROOT + "/seq")
        self.all_children_number("a", ROOT + "/nope")

        # one-shot watches: data, exist (on a missing node), child; event order per connection
        self.get("b", ROOT + "/p", watch=True)
        self.exists("b", ROOT + "/w", watch=True)
        self.children("b", ROOT, watch=True)
        self.children("b", ROOT + "/p", watch=True)
        self.set("a", ROOT + "/p", b"changed")
        self.set("a", ROOT + "/p", b"changed-again")  # no second event: one-shot
        self.create("a", ROOT + "/w")
        self.create("a", ROOT + "/p/kid")
        self.drain("b")
        self.get("b", ROOT + "/w", watch=True)
        self.exists("b", ROOT + "/w", watch=True)
        self.children("b", ROOT + "/w", watch=True)
        self.delete("a", ROOT + "/w")
        self.drain("b")
        # a watcher that is also the writer sees the event before its own reply
        self.get("a", ROOT + "/p", watch=True)
        self.set("a", ROOT + "/p", b"self")
        self.log("a", "events-before-reply", [], "OK",
                 [list(e) for e in self.clients["a"].take_events()])

        # removeWatches / checkWatches
        self.get("b", ROOT + "/p", watch=True)
        self.remove_watches("b", ROOT + "/p", 2, op="checkWatches")
        self.remove_watches("b", ROOT + "/p", 1, op="checkWatches")  # NOWATCHER
        self.remove_watches("b", ROOT + "/p", 2)
        self.remove_watches("b", ROOT + "/p", 2)  # NOWATCHER
        self.drain("b")
        self.set("a", ROOT + "/p", b"unwatched")
        self.drain("b")

        # persistent and persistent-recursive watches
        for top, mode in (("/pw", 0), ("/pr", 1)):
            self.create("a", ROOT + top)
            self.add_watch("b", ROOT + top, mode)
            for i in range(3):
                self.create("a", f"{ROOT}{top}/k{i}", b"")
                self.create("a", f"{ROOT}{top}/k{i}/g", b"")
                self.set("a", f"{ROOT}{top}/k{i}/g", b"new")
                self.set("a", ROOT + top, str(i).encode())
                self.set("a", f"{ROOT}{top}/k{i}", b"x")
            self.delete("a", ROOT + top + "/k0/g")
            self.delete("a", ROOT + top + "/k0")
            self.drain("b")
            self.remove_watches("b", ROOT + top, 3)
            self.remove_watches("b", ROOT + top, 3)  # NOWATCHER
            self.set("a", ROOT + top, b"quiet")
            self.create("a", ROOT + top + "/after", b"")
            self.drain("b")
        self.add_watch("a", ROOT + "/pw", 0)
        self.add_watch("a", "/nope", 0)  # a persistent watch on a missing node is fine
        self.create("a", "/nope")
        self.delete("a", "/nope")
        self.set("a", ROOT + "/pw", b"own")
        self.log("a", "events-before-reply", [], "OK",
                 [list(e) for e in self.clients["a"].take_events()])
        self.remove_watches("a", ROOT + "/pw", 3)
        self.remove_watches("a", "/nope", 3)

        # setWatches after a "reconnect": what changed since the zxid b saw fires at once
        self.drain("b")
        seen = self.clients["b"].last_zxid
        self.set("a", ROOT + "/p", b"while-away")
        self.create("a", ROOT + "/late")
        self.set_watches("b", seen, [ROOT + "/p", ROOT + "/seq"], [ROOT + "/late", ROOT + "/never"],
                         [ROOT, ROOT + "/seq"])
        self.drain("b")
        self.set("a", ROOT + "/never-created-parent-check", b"")  # NONODE
        self.create("a", ROOT + "/never")
        self.drain("b")

        # multi: success, failure with per-op codes, create-then-child, check
        self.multi("a", [("create", ROOT + "/m", b"m", PERSISTENT),
                         ("create", ROOT + "/m/c", b"", PERSISTENT),
                         ("create2", ROOT + "/m/s-", b"", SEQUENTIAL),
                         ("setData", ROOT + "/m", b"m2", 0),
                         ("check", ROOT + "/m", 1)])
        self.get("a", ROOT + "/m")
        self.multi("a", [("create", ROOT + "/m/d", b"", PERSISTENT),
                         ("check", ROOT + "/m", 0),
                         ("delete", ROOT + "/m/c", -1)])
        self.children("a", ROOT + "/m")
        self.multi("a", [("delete", ROOT + "/m/c", -1),
                         ("delete", ROOT + "/m/c", -1)])
        self.multi("a", [("setData", ROOT + "/m", b"x", 7)])
        self.multi("a", [("check", ROOT + "/nope", -1)])
        self.multi("a", [])
        self.multi("a", [("getData", ROOT + "/m"), ("getChildren", ROOT + "/m"),
                         ("getData", ROOT + "/nope"), ("getChildren", ROOT + "/seq")],
                   op="multiRead")
        self.get("b", ROOT + "/m", watch=True)
        self.multi("a", [("setData", ROOT + "/m", b"watched", -1),
                         ("create", ROOT + "/m/z", b"", PERSISTENT)])
        self.drain("b")

        # ephemerals, getEphemerals, session close fires watches elsewhere
        self.connect("c")
        for i in range(5):
            self.create("c", f"{ROOT}/eph{i}", b"", EPHEMERAL)
        self.create("c", ROOT + "/seq/ce-", b"", EPHEMERAL_SEQUENTIAL)
        self.ephemerals("c", "/")
        self.ephemerals("c", ROOT + "/eph")
        self.ephemerals("c", ROOT + "/seq")
        self.ephemerals("a", "/")
        self.ephemerals("b", "/")
        self.exists("a", ROOT + "/eph3")
        self.exists("b", ROOT + "/eph2", watch=True)
        self.children("b", ROOT, watch=True)
        self.close("c")
        self.drain("b")
        self.exists("a", ROOT + "/eph2")
        self.children("a", ROOT)

        # ACLs: digest, auth, world read-only, ip, setACL versions, super-less admin checks
        self.auth("a", "digest", "alice:secret")
        self.who_am_i("a")
        self.who_am_i("b")
        alice = digest_id("alice", "secret")
        self.create("a", ROOT + "/acl", b"secret", acl=[(ALL, "digest", alice)])
        self.get("a", ROOT + "/acl")
        self.get("b", ROOT + "/acl")  # NOAUTH
        self.set("b", ROOT + "/acl", b"x")  # NOAUTH
        self.get_acl("b", ROOT + "/acl")
        self.create("a", ROOT + "/acl/child")
        self.create("b", ROOT + "/acl/child2")  # NOAUTH (CREATE)
        self.delete("b", ROOT + "/acl/child")  # NOAUTH (DELETE on parent)
        self.children("b", ROOT + "/acl")  # NOAUTH
        self.all_children_number("b", ROOT + "/acl")
        self.auth("b", "digest", "bob:pw")
        self.get("b", ROOT + "/acl")  # still NOAUTH
        self.set_acl("a", ROOT + "/acl", [(READ | ADMIN, "digest", alice),
                                          (READ, "world", "anyone")], 0)
        self.set_acl("a", ROOT + "/acl", OPEN_ACL, 0)  # BADVERSION
        self.get("b", ROOT + "/acl")
        self.set("a", ROOT + "/acl", b"no-write")  # NOAUTH: alice lost WRITE
        self.get_acl("a", ROOT + "/acl")
        self.create("a", ROOT + "/authacl", b"", acl=[(ALL, "auth", "")])
        self.get_acl("a", ROOT + "/authacl")
        self.create("b", ROOT + "/noauth-acl", b"", acl=[(ALL, "digest", "x:y"), (READ, "bad", "x")])
        self.create("a", ROOT + "/badacl", b"", acl=[])  # INVALIDACL
        self.create("a", ROOT + "/ip", b"", acl=[(READ | WRITE | DELETE | CREATE, "ip", "127.0.0.1")])
        self.set("b", ROOT + "/ip", b"by-ip")
        self.set_acl("b", ROOT + "/ip", OPEN_ACL)  # NOAUTH: no ADMIN
        self.create("a", ROOT + "/ipnet", b"", acl=[(ALL, "ip", "10.0.0.0/8")])
        self.get("a", ROOT + "/ipnet")  # NOAUTH
        self.set_acl("a", ROOT + "/zookeeper-ro", OPEN_ACL)  # NONODE
        self.get("a", "/zookeeper/config")
        self.set("a", "/zookeeper/config", b"x")  # NOAUTH
        self.delete("a", "/zookeeper")  # BADARGUMENTS

        # containers and TTL nodes (extendedTypesEnabled=true)
        self.create("a", ROOT + "/cont", b"", CONTAINER, op="createContainer")
        self.create("a", ROOT + "/cont/c", b"")
        self.exists("a", ROOT + "/cont")
        self.create("a", ROOT + "/ttl", b"t", PERSISTENT_WITH_TTL, op="createTTL", ttl=60000)
        self.create("a", ROOT + "/ttl/s-", b"", PERSISTENT_SEQUENTIAL_WITH_TTL, op="createTTL",
                    ttl=60000)
        self.create("a", ROOT + "/ttl0", b"", PERSISTENT_WITH_TTL, op="createTTL", ttl=0)
        self.create("a", ROOT + "/ttle", b"", EPHEMERAL, op="createTTL", ttl=100)
        self.exists("a", ROOT + "/ttl")

        # sync, large data, more churn for hundreds of ops
        self.sync("a", ROOT)
        self.create("a", ROOT + "/big", b"z" * 500_000)
        self.exists("a", ROOT + "/big")
        self.create("a", ROOT + "/bulk")
        for i in range(60):
            self.create("a", f"{ROOT}/bulk/n{i:03}", str(i).encode())
        for i in range(0, 60, 2):
            self.set("a", f"{ROOT}/bulk/n{i:03}", b"even", 0)
        for i in range(0, 60, 3):
            self.delete("a", f"{ROOT}/bulk/n{i:03}", 0 if i % 2 else 1)
        self.children2("a", ROOT + "/bulk")
        self.all_children_number("a", ROOT + "/bulk")
        self.all_children_number("a", "/")
        self.drain()
        self.close("a")
        self.drain("b")
        self.exists("b", ROOT + "/e")
        self.close("b")

    # -- normalization ------------------------------------------------------------------------

    def transcript(self):
        zxids = set()

        def collect(v):
            if isinstance(v, Zxid):
                zxids.add(int(v))
            elif isinstance(v, dict):
                for x in v.values():
                    collect(x)
            elif isinstance(v, (list, tuple)):
                for x in v:
                    collect(x)

        for line in self.lines:
            collect(line["res"])
        rank = {z: i for i, z in enumerate(sorted(zxids))}
        now = int(time.time() * 1000) + 1000

        def norm(v):
            if isinstance(v, dict) and "ctime" in v:
                out = {k: norm(x) for k, x in v.items() if k not in ("ctime", "mtime")}
                out["times_ok"] = START_MS <= v["ctime"] <= v["mtime"] <= now
                return out
            if isinstance(v, Zxid):
                return f"z{rank[int(v)]}"
            if isinstance(v, Session):
                if v == 0:
                    return 0
                if v in self.names:
                    return "session:" + self.names[int(v)]
                return f"special:{int(v) & 0xFFFFFFFFFFFFFFFF:#x}"
            if isinstance(v, dict):
                return {k: norm(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [norm(x) for x in v]
            return v

        return [{**line, "res": norm(line["res"])} for line in self.lines]


def _text(b):
    if b is None:
        return None
    try:
        s = b.decode()
    except UnicodeDecodeError:
        return "hex:" + b.hex()
    return s if len(s) <= 64 else f"{s[:16]}...({len(s)} bytes)"


def main():
    host, port = sys.argv[1].rsplit(":", 1)
    sc = Scenario(host, int(port))
    sc.run()
    for line in sc.transcript():
        print(json.dumps(line, sort_keys=True))


if __name__ == "__main__":
    main()
