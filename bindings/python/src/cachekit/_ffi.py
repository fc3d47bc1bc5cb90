"""Loading of the cachekit core (a shared library) and its C ABI signatures.

The library is found through ``CACHEKIT_LIBRARY`` (a path), else the copy
bundled inside this package (``cachekit/_lib/libcachekit.so``). Every function
of ``include/cachekit.h`` used here has its ``argtypes`` and ``restype``
declared; the ABI version is checked at import.
"""

from __future__ import annotations

import ctypes
import os
import pathlib
import sys
from typing import Any

ABI_VERSION = 1

# ck_status
CK_OK = 0
CK_INVALID_ARGUMENT = 1
CK_INVALID_KEY = 2
CK_CONFIG = 3
CK_ENCODE = 4
CK_ENCRYPTION = 5
CK_BACKEND = 6
CK_LEASE = 7
CK_PANIC = 8
CK_CLOSED = 9

# A foreign backend callback's return for a failure that must not move the breaker.
CK_BACKEND_EXCLUDED = -3


class CkBuf(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("len", ctypes.c_size_t)]  # pyright: ignore[reportUnannotatedClassAttribute]


class CkClient(ctypes.Structure):
    pass


class CkCache(ctypes.Structure):
    pass


class CkLease(ctypes.Structure):
    pass


ClientP = ctypes.POINTER(CkClient)
CacheP = ctypes.POINTER(CkCache)
LeaseP = ctypes.POINTER(CkLease)
U8P = ctypes.c_char_p  # byte buffers are passed as bytes objects (no copy)
BufP = ctypes.POINTER(CkBuf)

LOG_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint8, ctypes.c_char_p)
COMPLETION = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, CkBuf, ctypes.c_bool, ctypes.c_void_p)

_status = ctypes.c_int
_sz = ctypes.c_size_t
_bool_p = ctypes.POINTER(ctypes.c_bool)
_vp = ctypes.c_void_p
_cp = ctypes.c_char_p

# name -> (restype, argtypes). Leases travel as c_void_p (opaque pointers).
SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "ck_abi_version": (ctypes.c_uint32, []),
    "ck_version": (_cp, []),
    "ck_last_error": (_cp, []),
    "ck_buf_free": (None, [BufP]),
    "ck_client_new": (_status, [_cp, ctypes.POINTER(ClientP)]),
    "ck_client_free": (None, [ClientP]),
    "ck_flush": (_status, [ClientP, ctypes.c_uint64, ctypes.POINTER(ctypes.c_uint64)]),
    "ck_shutdown": (_status, [ctypes.c_uint64, ctypes.POINTER(ctypes.c_uint64)]),
    "ck_status_name": (_cp, [ctypes.c_uint32]),
    "ck_cache_new": (_status, [ClientP, _cp, _cp, ctypes.POINTER(CacheP)]),
    "ck_cache_free": (None, [CacheP]),
    "ck_make_key": (_status, [CacheP, _cp, U8P, _sz, BufP]),
    "ck_get": (_status, [CacheP, _cp, U8P, _sz, BufP, _bool_p]),
    "ck_set": (_status, [CacheP, _cp, U8P, _sz, U8P, _sz, ctypes.c_int64]),
    "ck_delete": (_status, [CacheP, _cp, U8P, _sz, _bool_p]),
    "ck_exists": (_status, [CacheP, _cp, U8P, _sz, _bool_p]),
    "ck_ttl": (_status, [CacheP, _cp, U8P, _sz, ctypes.POINTER(ctypes.c_int64)]),
    "ck_clear": (_status, [CacheP, ctypes.POINTER(ctypes.c_uint64)]),
    "ck_clear_operation": (_status, [CacheP, _cp, ctypes.POINTER(ctypes.c_uint64)]),
    "ck_discard": (_status, [CacheP, _cp, U8P, _sz, _cp]),
    "ck_fill_begin": (_status, [CacheP, _cp, U8P, _sz, BufP, ctypes.POINTER(_vp)]),
    "ck_lease_complete": (_status, [_vp, U8P, _sz, ctypes.c_int64]),
    "ck_lease_abort": (None, [_vp]),
    "ck_health": (_status, [CacheP, BufP]),
    "ck_check_health": (_status, [CacheP, BufP]),
    "ck_metrics": (_status, [ClientP, BufP]),
    "ck_set_log_callback": (_status, [LOG_CALLBACK, _vp, ctypes.c_uint8]),
    "ck_set_correlation_id": (_status, [_cp]),
    "ck_get_async": (_status, [CacheP, _cp, U8P, _sz, COMPLETION, _vp, BufP, _bool_p, _bool_p]),
    "ck_fill_begin_async": (
        _status,
        [CacheP, _cp, U8P, _sz, COMPLETION, _vp, BufP, ctypes.POINTER(_vp), _bool_p],
    ),
    "ck_lease_complete_async": (_status, [_vp, U8P, _sz, ctypes.c_int64, COMPLETION, _vp]),
    "ck_set_async": (_status, [CacheP, _cp, U8P, _sz, U8P, _sz, ctypes.c_int64, COMPLETION, _vp]),
    "ck_delete_async": (_status, [CacheP, _cp, U8P, _sz, COMPLETION, _vp]),
    "ck_get_borrowed": (
        _status,
        [CacheP, _cp, U8P, _sz, ctypes.POINTER(_vp), ctypes.POINTER(_sz), _bool_p],
    ),
    "ck_peek_borrowed": (
        _status,
        [CacheP, _cp, U8P, _sz, ctypes.POINTER(_vp), ctypes.POINTER(_sz)],
    ),
    "ck_fill_begin_borrowed": (
        _status,
        [CacheP, _cp, U8P, _sz, ctypes.POINTER(_vp), ctypes.POINTER(_sz), ctypes.POINTER(_vp)],
    ),
}


def library_path() -> pathlib.Path:
    """Where the core is loaded from: ``CACHEKIT_LIBRARY``, else the bundled copy."""
    explicit = os.environ.get("CACHEKIT_LIBRARY")
    if explicit:
        return pathlib.Path(explicit)
    name = "libcachekit.dylib" if sys.platform == "darwin" else "libcachekit.so"
    return pathlib.Path(__file__).resolve().parent / "_lib" / name


def _load() -> ctypes.CDLL:
    path = library_path()
    if not path.exists():
        raise ImportError(
            f"cachekit: the core library {path} does not exist. Install the package with pip "
            + "(it builds and bundles the library) or set CACHEKIT_LIBRARY to a built libcachekit.so."
        )
    try:
        lib = ctypes.CDLL(str(path))
    except OSError as e:
        raise ImportError(f"cachekit: cannot load the core library {path}: {e}") from e
    try:
        lib.ck_abi_version.restype = ctypes.c_uint32
        lib.ck_abi_version.argtypes = []
        found = int(lib.ck_abi_version())
    except AttributeError as e:
        raise ImportError(f"cachekit: {path} is not a cachekit core library (no ck_abi_version)") from e
    if found != ABI_VERSION:
        raise ImportError(
            f"cachekit: the core library {path} has ABI version {found}, but this Python package "
            + f"needs ABI version {ABI_VERSION}. Reinstall the package or point CACHEKIT_LIBRARY at a matching build."
        )
    missing: list[str] = []
    for name, (restype, argtypes) in SIGNATURES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise ImportError(f"cachekit: the core library {path} lacks {', '.join(missing)}")
    return lib


lib: Any = _load()


def status_name(status: int) -> str:
    """The core's name of a status (``"CK_BACKEND"``)."""
    name: bytes = lib.ck_status_name(status)
    return name.decode()


def last_error() -> str:
    msg: bytes | None = lib.ck_last_error()
    return msg.decode("utf-8", "replace") if msg else ""


def take_buf(buf: CkBuf) -> bytes:
    """Copy a library-owned buffer into bytes and release it."""
    n = int(buf.len)
    out = ctypes.string_at(buf.data, n) if n else b""
    lib.ck_buf_free(ctypes.byref(buf))
    return out
