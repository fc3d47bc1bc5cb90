"""Smoke test: the cachekit C ABI is usable from an FFI (ctypes).

Loads the shared library from $CACHEKIT_LIBRARY, else
target/debug/libcachekit.so under the repository root (build it first with
`cargo build`). Arguments and values are MessagePack, encoded with the
`msgpack` package. Run: python3 -m pytest tests/python_smoke
"""

import ctypes
import os
import pathlib

import msgpack
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]

# ck_status values (include/cachekit.h)
CK_OK = 0
CK_INVALID_ARGUMENT = 1
CK_INVALID_KEY = 2


class CkBuf(ctypes.Structure):
    _fields_ = [("data", ctypes.POINTER(ctypes.c_uint8)), ("len", ctypes.c_size_t)]


class CkClient(ctypes.Structure):
    pass


class CkCache(ctypes.Structure):
    pass


class CkLease(ctypes.Structure):
    pass


def _library_path():
    explicit = os.environ.get("CACHEKIT_LIBRARY")
    if explicit:
        return pathlib.Path(explicit)
    target = os.environ.get("CARGO_TARGET_DIR")
    base = pathlib.Path(target) if target else REPO / "target"
    if not base.is_absolute():
        base = REPO / base
    return base / "debug" / "libcachekit.so"


@pytest.fixture(scope="module")
def ck():
    path = _library_path()
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `cargo build` or set CACHEKIT_LIBRARY")
    lib = ctypes.CDLL(str(path))

    status = ctypes.c_int
    u8p = ctypes.POINTER(ctypes.c_uint8)
    client_p = ctypes.POINTER(CkClient)
    cache_p = ctypes.POINTER(CkCache)
    lease_p = ctypes.POINTER(CkLease)
    sigs = {
        "ck_abi_version": (ctypes.c_uint32, []),
        "ck_version": (ctypes.c_char_p, []),
        "ck_last_error": (ctypes.c_char_p, []),
        "ck_buf_free": (None, [ctypes.POINTER(CkBuf)]),
        "ck_client_new": (status, [ctypes.c_char_p, ctypes.POINTER(client_p)]),
        "ck_client_free": (None, [client_p]),
        "ck_cache_new": (status, [client_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(cache_p)]),
        "ck_cache_free": (None, [cache_p]),
        "ck_set": (status, [cache_p, ctypes.c_char_p, u8p, ctypes.c_size_t, u8p, ctypes.c_size_t, ctypes.c_int64]),
        "ck_get": (status, [cache_p, ctypes.c_char_p, u8p, ctypes.c_size_t, ctypes.POINTER(CkBuf),
                            ctypes.POINTER(ctypes.c_bool)]),
        "ck_fill_begin": (status, [cache_p, ctypes.c_char_p, u8p, ctypes.c_size_t, ctypes.POINTER(CkBuf),
                                   ctypes.POINTER(lease_p)]),
        "ck_lease_complete": (status, [lease_p, u8p, ctypes.c_size_t, ctypes.c_int64]),
    }
    for name, (restype, argtypes) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def _bytes_arg(data):
    """(pointer, length) of a Python bytes object for a borrowed byte buffer."""
    buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data) if data else None
    return ctypes.cast(buf, ctypes.POINTER(ctypes.c_uint8)), len(data), buf


def _take(ck, buf):
    """Copy a library buffer into bytes and free it."""
    out = ctypes.string_at(buf.data, buf.len) if buf.len else b""
    ck.ck_buf_free(ctypes.byref(buf))
    assert not buf.data and buf.len == 0
    return out


def _get(ck, cache, op, args):
    a_p, a_n, _keep = _bytes_arg(msgpack.packb(args))
    out, found = CkBuf(), ctypes.c_bool(True)
    assert ck.ck_get(cache, op, a_p, a_n, ctypes.byref(out), ctypes.byref(found)) == CK_OK, ck.ck_last_error()
    value = _take(ck, out)
    return msgpack.unpackb(value) if found.value else None, found.value


def _set(ck, cache, op, args, value, ttl_ms=0):
    a_p, a_n, _ka = _bytes_arg(msgpack.packb(args))
    v_p, v_n, _kv = _bytes_arg(msgpack.packb(value))
    return ck.ck_set(cache, op, a_p, a_n, v_p, v_n, ttl_ms)


@pytest.fixture
def client(ck):
    c = ctypes.POINTER(CkClient)()
    # Explicit settings: L1-only, whatever the environment says.
    assert ck.ck_client_new(b'{"redis_url": null, "key_prefix": null, "tenant_id": null}', ctypes.byref(c)) == CK_OK
    assert c
    yield c
    ck.ck_client_free(c)


@pytest.fixture
def cache(ck, client):
    c = ctypes.POINTER(CkCache)()
    ns = f"pysmoke-{os.getpid()}".encode()
    assert ck.ck_cache_new(client, ns, b'{"ttl": 60}', ctypes.byref(c)) == CK_OK, ck.ck_last_error()
    yield c
    ck.ck_cache_free(c)


def test_versions(ck):
    assert ck.ck_abi_version() == 1
    assert ck.ck_version().decode().count(".") >= 1


def test_set_get_roundtrip_and_miss(ck, cache):
    value = {"name": "Ada", "tags": ["x", "y"], "n": 3, "ok": True, "none": None}
    assert _set(ck, cache, b"get_user", [42], value) == CK_OK
    got, found = _get(ck, cache, b"get_user", [42])
    assert found and got == value
    got, found = _get(ck, cache, b"get_user", [43])
    assert not found and got is None


def test_fill_lease_cycle(ck, cache):
    a_p, a_n, _keep = _bytes_arg(msgpack.packb(["report", 7]))
    out, lease = CkBuf(), ctypes.POINTER(CkLease)()
    assert ck.ck_fill_begin(cache, b"compute", a_p, a_n, ctypes.byref(out), ctypes.byref(lease)) == CK_OK
    assert lease, "a cold key gives a lease"
    assert _take(ck, out) == b""

    v_p, v_n, _kv = _bytes_arg(msgpack.packb({"total": 99}))
    assert ck.ck_lease_complete(lease, v_p, v_n, 0) == CK_OK

    out, lease = CkBuf(), ctypes.POINTER(CkLease)()
    assert ck.ck_fill_begin(cache, b"compute", a_p, a_n, ctypes.byref(out), ctypes.byref(lease)) == CK_OK
    assert not lease, "a warm key gives the value and no lease"
    assert msgpack.unpackb(_take(ck, out)) == {"total": 99}


def test_invalid_namespace(ck, client):
    c = ctypes.POINTER(CkCache)()
    assert ck.ck_cache_new(client, b"bad ns!", None, ctypes.byref(c)) == CK_INVALID_KEY
    assert not c, "out-param untouched on failure"
    msg = ck.ck_last_error().decode()
    assert "bad ns!" in msg and "namespace" in msg


def test_null_out_pointer(ck):
    assert ck.ck_client_new(None, None) == CK_INVALID_ARGUMENT
    assert "out_client" in ck.ck_last_error().decode()
