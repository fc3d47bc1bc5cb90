"""Smoke test: the cachekit C ABI is usable from an FFI (ctypes).

The ctypes declarations are the Python package's own
(bindings/python/src/cachekit/_ffi.py: status codes, structures and every
function's argtypes/restype), loaded here as a standalone module so that this
test needs only ctypes and msgpack, not the package's dependencies. The
library is $CACHEKIT_LIBRARY, else target/debug/libcachekit.so under the
repository root (build it first with `cargo build`). Arguments and values are
MessagePack, encoded with the `msgpack` package.
Run: python3 -m pytest tests/python_smoke
"""

import ctypes
import importlib.util
import os
import pathlib
import sys

import msgpack
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
FFI_SOURCE = REPO / "bindings" / "python" / "src" / "cachekit" / "_ffi.py"


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
def ffi():
    """The package's `_ffi` module: loads the library and declares the ABI."""
    path = _library_path()
    if not path.exists():
        pytest.fail(f"{path} does not exist: run `cargo build` or set CACHEKIT_LIBRARY")
    os.environ["CACHEKIT_LIBRARY"] = str(path)
    spec = importlib.util.spec_from_file_location("cachekit_smoke_ffi", FFI_SOURCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ck(ffi):
    return ffi.lib


def _take(ffi, buf):
    """Copy a library buffer into bytes and free it; the buffer is emptied."""
    out = ctypes.string_at(buf.data, buf.len) if buf.len else b""
    ffi.lib.ck_buf_free(ctypes.byref(buf))
    assert not buf.data and buf.len == 0
    return out


def _get(ffi, cache, op, args):
    a = msgpack.packb(args)
    out, found = ffi.CkBuf(), ctypes.c_bool(True)
    status = ffi.lib.ck_get(cache, op, a, len(a), ctypes.byref(out), ctypes.byref(found))
    assert status == ffi.CK_OK, ffi.last_error()
    value = _take(ffi, out)
    return msgpack.unpackb(value) if found.value else None, found.value


def _set(ffi, cache, op, args, value, ttl_ms=0):
    a = msgpack.packb(args)
    v = msgpack.packb(value)
    return ffi.lib.ck_set(cache, op, a, len(a), v, len(v), ttl_ms)


def _fill_begin(ffi, cache, op, a):
    out, lease = ffi.CkBuf(), ctypes.c_void_p()
    status = ffi.lib.ck_fill_begin(cache, op, a, len(a), ctypes.byref(out), ctypes.byref(lease))
    assert status == ffi.CK_OK, ffi.last_error()
    return _take(ffi, out), lease.value


@pytest.fixture
def client(ffi):
    c = ffi.ClientP()
    # Explicit settings: L1-only, whatever the environment says.
    settings = b'{"redis_url": null, "key_prefix": null, "tenant_id": null}'
    assert ffi.lib.ck_client_new(settings, ctypes.byref(c)) == ffi.CK_OK
    assert c
    yield c
    ffi.lib.ck_client_free(c)


@pytest.fixture
def cache(ffi, client):
    c = ffi.CacheP()
    ns = f"pysmoke-{os.getpid()}".encode()
    assert ffi.lib.ck_cache_new(client, ns, b'{"ttl": 60}', ctypes.byref(c)) == ffi.CK_OK, ffi.last_error()
    yield c
    ffi.lib.ck_cache_free(c)


def test_the_abi_version_is_the_one_the_declarations_are_for(ffi):
    assert ffi.lib.ck_abi_version() == ffi.ABI_VERSION == 1


def test_the_core_reports_a_dotted_version(ck):
    assert ck.ck_version().decode().count(".") >= 1


def test_a_value_set_is_read_back(ffi, cache):
    value = {"name": "Ada", "tags": ["x", "y"], "n": 3, "ok": True, "none": None}
    assert _set(ffi, cache, b"get_user", [42], value) == ffi.CK_OK
    assert _get(ffi, cache, b"get_user", [42]) == (value, True)


def test_a_key_never_set_is_a_miss(ffi, cache):
    assert _set(ffi, cache, b"get_user", [42], {"n": 1}) == ffi.CK_OK
    assert _get(ffi, cache, b"get_user", [43]) == (None, False)


def test_a_cold_key_gives_a_fill_lease_and_no_value(ffi, cache):
    a = msgpack.packb(["report", 7])
    value, lease = _fill_begin(ffi, cache, b"compute", a)
    assert lease, "a cold key gives a lease"
    assert value == b""
    ffi.lib.ck_lease_abort(lease)


def test_a_completed_lease_makes_the_key_warm(ffi, cache):
    a = msgpack.packb(["report", 7])
    _, lease = _fill_begin(ffi, cache, b"compute", a)
    v = msgpack.packb({"total": 99})
    assert ffi.lib.ck_lease_complete(lease, v, len(v), 0) == ffi.CK_OK
    value, lease = _fill_begin(ffi, cache, b"compute", a)
    assert not lease, "a warm key gives the value and no lease"
    assert msgpack.unpackb(value) == {"total": 99}


def test_an_invalid_namespace_is_refused_and_named(ffi, client):
    c = ffi.CacheP()
    assert ffi.lib.ck_cache_new(client, b"bad ns!", None, ctypes.byref(c)) == ffi.CK_INVALID_KEY
    assert not c, "out-param untouched on failure"
    msg = ffi.last_error()
    assert "bad ns!" in msg and "namespace" in msg


def test_a_null_out_pointer_is_an_invalid_argument_that_names_it(ffi):
    assert ffi.lib.ck_client_new(None, None) == ffi.CK_INVALID_ARGUMENT
    assert "out_client" in ffi.last_error()


def test_status_names_come_from_the_core(ffi):
    assert ffi.status_name(ffi.CK_INVALID_KEY) == "CK_INVALID_KEY"
