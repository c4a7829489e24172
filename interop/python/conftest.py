"""Shared fixtures for the kazoo interop tests.

The keeper under test is started by the Rust harness (crates/keeper/tests/kazoo.rs), which
passes its address in KEEPER_ADDR. Without it (or without kazoo) the tests are skipped with a
message saying how to run them.
"""
import os
import uuid

import pytest

try:
    from kazoo.client import KazooClient  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    KazooClient = None


def keeper_addr():
    return os.environ.get("KEEPER_ADDR")


@pytest.fixture
def zk():
    if KazooClient is None:
        pytest.skip("kazoo is not installed: pip install kazoo pytest")
    addr = keeper_addr()
    if not addr:
        pytest.skip("KEEPER_ADDR not set: run `cargo test -p courier-keeper --test kazoo`")
    client = KazooClient(hosts=addr, timeout=10)
    client.start(timeout=10)
    yield client
    try:
        client.stop()
        client.close()
    except Exception:
        pass


@pytest.fixture
def make_client():
    if KazooClient is None:
        pytest.skip("kazoo is not installed: pip install kazoo pytest")
    addr = keeper_addr()
    if not addr:
        pytest.skip("KEEPER_ADDR not set: run `cargo test -p courier-keeper --test kazoo`")
    made = []

    def factory(**kw):
        c = KazooClient(hosts=addr, timeout=kw.pop("timeout", 10), **kw)
        c.start(timeout=10)
        made.append(c)
        return c

    yield factory
    for c in made:
        try:
            c.stop()
            c.close()
        except Exception:
            pass


@pytest.fixture
def base(zk):
    """A fresh parent path per test so tests never see each other's nodes."""
    path = "/t-" + uuid.uuid4().hex[:10]
    zk.ensure_path(path)
    return path
