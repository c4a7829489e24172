"""A deliberately small, synchronous ZooKeeper wire client for Courier's interop scripts.

It speaks the jute protocol directly (no kazoo) so a script sees exactly what the server sent and
in which order: every watch notification that arrives before a reply is kept in `events`, in wire
order, next to the replies. Replies are never reordered; one request is in flight at a time.

Records follow ZooKeeper 3.8's jute definitions: frames are a 4-byte big-endian length followed by
the payload; ints/longs are big-endian; strings and buffers are an int length (-1 = null) plus
bytes; vectors are an int count plus elements.
"""

import hashlib
import base64
import socket
import struct

OPS = {
    "create": 1, "delete": 2, "exists": 3, "getData": 4, "setData": 5, "getACL": 6,
    "setACL": 7, "getChildren": 8, "sync": 9, "ping": 11, "getChildren2": 12, "check": 13,
    "multi": 14, "create2": 15, "checkWatches": 17, "removeWatches": 18,
    "createContainer": 19, "createTTL": 21, "multiRead": 22, "auth": 100, "setWatches": 101,
    "getEphemerals": 103, "getAllChildrenNumber": 104, "setWatches2": 105, "addWatch": 106,
    "whoAmI": 107, "closeSession": -11,
}

ERRORS = {
    0: "OK", -1: "SYSTEMERROR", -2: "RUNTIMEINCONSISTENCY", -3: "DATAINCONSISTENCY",
    -4: "CONNECTIONLOSS", -5: "MARSHALLINGERROR", -6: "UNIMPLEMENTED", -7: "OPERATIONTIMEOUT",
    -8: "BADARGUMENTS", -13: "NEWCONFIGNOQUORUM", -14: "RECONFIGINPROGRESS",
    -15: "UNKNOWNSESSION", -100: "APIERROR", -101: "NONODE", -102: "NOAUTH",
    -103: "BADVERSION", -108: "NOCHILDRENFOREPHEMERALS", -110: "NODEEXISTS",
    -111: "NOTEMPTY", -112: "SESSIONEXPIRED", -113: "INVALIDCALLBACK", -114: "INVALIDACL",
    -115: "AUTHFAILED", -118: "SESSIONMOVED", -119: "NOTREADONLY",
    -120: "EPHEMERALONLOCALSESSION", -121: "NOWATCHER", -122: "REQUESTTIMEOUT",
    -123: "RECONFIGDISABLED", -124: "SESSIONCLOSEDREQUIRESASLAUTH", -125: "QUOTAEXCEEDED",
    -127: "THROTTLEDOP",
}

EVENTS = {1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged", 4: "NodeChildrenChanged",
          5: "DataWatchRemoved", 6: "ChildWatchRemoved", 7: "PersistentWatchRemoved", -1: "None"}

PERSISTENT, EPHEMERAL, SEQUENTIAL, EPHEMERAL_SEQUENTIAL = 0, 1, 2, 3
CONTAINER, PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL = 4, 5, 6

ALL, READ, WRITE, CREATE, DELETE, ADMIN = 31, 1, 2, 4, 8, 16
OPEN_ACL = [(ALL, "world", "anyone")]


def digest_id(user, password):
    """The `digest` scheme id for user:password, as ZooKeeper derives it."""
    sha = hashlib.sha1(f"{user}:{password}".encode()).digest()
    return f"{user}:{base64.b64encode(sha).decode()}"


class Writer:
    def __init__(self):
        self.parts = []

    def int(self, v):
        self.parts.append(struct.pack(">i", v))
        return self

    def long(self, v):
        self.parts.append(struct.pack(">q", v))
        return self

    def bool(self, v):
        self.parts.append(b"\x01" if v else b"\x00")
        return self

    def buffer(self, b):
        if b is None:
            return self.int(-1)
        self.int(len(b))
        self.parts.append(b)
        return self

    def string(self, s):
        return self.buffer(None if s is None else s.encode())

    def strings(self, items):
        self.int(len(items))
        for s in items:
            self.string(s)
        return self

    def acl(self, acl):
        self.int(len(acl))
        for perms, scheme, ident in acl:
            self.int(perms).string(scheme).string(ident)
        return self

    def bytes(self):
        return b"".join(self.parts)


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def _take(self, fmt):
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return v

    def int(self):
        return self._take(">i")

    def long(self):
        return self._take(">q")

    def bool(self):
        return self._take(">B") != 0

    def buffer(self):
        n = self.int()
        if n < 0:
            return None
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def string(self):
        b = self.buffer()
        return None if b is None else b.decode()

    def strings(self):
        return [self.string() for _ in range(self.int())]

    def stat(self):
        names = ["czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion",
                 "ephemeralOwner", "dataLength", "numChildren", "pzxid"]
        fmts = "qqqqiiiqiiq"
        return {n: self._take(">" + f) for n, f in zip(names, fmts)}

    def acl(self):
        return [(self.int(), self.string(), self.string()) for _ in range(self.int())]

    def remaining(self):
        return len(self.data) - self.pos


class ServerClosed(Exception):
    pass


class Conn:
    """One session on one TCP connection."""

    def __init__(self, host, port, timeout_ms=30000, session_id=0, password=b"\0" * 16):
        self.sock = socket.create_connection((host, port), timeout=20)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.xid = 0
        self.events = []
        self.last_zxid = 0
        hello = (Writer().int(0).long(0).int(timeout_ms).long(session_id).buffer(password)
                 .bool(False).bytes())
        self._send(hello)
        r = Reader(self._recv())
        r.int()
        self.timeout = r.int()
        self.session_id = r.long()
        self.password = r.buffer()

    def _send(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)

    def _recv_exact(self, n):
        chunks = []
        while n:
            c = self.sock.recv(n)
            if not c:
                raise ServerClosed()
            chunks.append(c)
            n -= len(c)
        return b"".join(chunks)

    def _recv(self):
        (n,) = struct.unpack(">i", self._recv_exact(4))
        return self._recv_exact(n)

    def call(self, op, body=b"", xid=None):
        """Sends one request; returns (error name, Reader over the body, header zxid).
        Notifications read while waiting are appended to `events` as (type, path)."""
        if xid is None:
            self.xid += 1
            xid = self.xid
        self._send(Writer().int(xid).int(OPS[op]).bytes() + body)
        while True:
            r = Reader(self._recv())
            rxid, zxid, err = r.int(), r.long(), r.int()
            if rxid == -1:
                etype, _state, path = r.int(), r.int(), r.string()
                self.events.append((EVENTS.get(etype, str(etype)), path))
                continue
            if rxid != xid:
                raise RuntimeError(f"reply xid {rxid} does not match request xid {xid}")
            if zxid > 0:
                self.last_zxid = zxid
            return ERRORS.get(err, str(err)), r, zxid

    def take_events(self):
        ev, self.events = self.events, []
        return ev

    def close(self):
        try:
            self.call("closeSession")
        except (ServerClosed, OSError):
            pass
        self.sock.close()
