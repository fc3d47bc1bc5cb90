"""Thin objects over the C ABI: clients, namespace handles, logging.

Nothing here decides policy: retries, locks, TTLs, L1 and single-flight are
the core's. This module converts Python values to ABI calls and statuses to
exceptions.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import os
import threading
from typing import Any

from cachekit import _ffi
from cachekit._ffi import CK_OK, CkBuf, lib, take_buf
from cachekit.errors import BackendError, CachekitError, ConfigurationError, EncryptionError, SerializationError

log = logging.getLogger("cachekit")


def raise_status(status: int, what: str) -> None:
    msg = f"cachekit: {what}: {_ffi.last_error()}"
    name = _ffi.status_name(status)
    if status in (_ffi.CK_INVALID_KEY, _ffi.CK_CONFIG, _ffi.CK_INVALID_ARGUMENT):
        raise ConfigurationError(msg, name)
    if status == _ffi.CK_ENCRYPTION:
        raise EncryptionError(msg, name)
    if status == _ffi.CK_ENCODE:
        raise SerializationError(msg, name)
    if status == _ffi.CK_BACKEND:
        raise BackendError(msg, name)
    raise CachekitError(msg, name)


# ------------------------------------------------------------------ logging

_LEVELS = {10: logging.DEBUG, 20: logging.INFO, 30: logging.WARNING, 40: logging.ERROR}
# Namespaces whose debug/info events are delivered (the dev preset).
verbose_namespaces: set[str] = set()


def _on_log(_user: int | None, level: int, raw: bytes | None) -> None:
    try:
        pylevel = _LEVELS.get(level, logging.WARNING)
        if not log.isEnabledFor(pylevel):
            return
        text = raw.decode("utf-8", "replace") if raw else "{}"
        try:
            event: dict[str, Any] = json.loads(text)
        except ValueError:
            event = {"event": text}
        if pylevel < logging.WARNING and verbose_namespaces and event.get("namespace") not in verbose_namespaces:
            # Debug/info events were asked for by a dev-preset namespace only.
            if log.getEffectiveLevel() > logging.DEBUG:
                return
        detail = event.get("detail")
        msg = f"{event.get('event', '?')} namespace={event.get('namespace')} outcome={event.get('outcome')}"
        if detail:
            msg += f": {detail}"
        log.log(pylevel, msg, extra={"cachekit": event})
    except Exception:
        pass


_log_cb = _ffi.LOG_CALLBACK(_on_log)  # kept referenced for the life of the process
_log_lock = threading.Lock()
_log_min = [255]


def install_log_callback(min_level: int = 10) -> None:
    """Route the core's structured events to the ``cachekit`` logger."""
    with _log_lock:
        if min_level >= _log_min[0]:
            return
        _log_min[0] = min_level
        status = lib.ck_set_log_callback(_log_cb, None, min_level)
        if status != CK_OK:
            raise_status(status, "ck_set_log_callback")


_env_level_applied = [False]


def _apply_log_level_env() -> None:
    """``LOG_LEVEL`` (the reference's variable) sets the ``cachekit`` logger's
    level, unless the application gave that logger a level itself."""
    if _env_level_applied[0]:
        return
    _env_level_applied[0] = True
    name = os.environ.get("LOG_LEVEL", "").strip().upper()
    if not name or log.level != logging.NOTSET:
        return
    level = logging.getLevelName(name)
    if isinstance(level, int):
        log.setLevel(level)
    else:
        log.warning("cachekit: LOG_LEVEL=%r is not a logging level (DEBUG, INFO, WARNING, ERROR); ignored", name)


def initial_log_level() -> int:
    """The lowest core event level the ``cachekit`` logger wants now.

    Checked whenever a function is decorated: a level lowered after that
    takes effect at the next decoration (raising it needs nothing, Python
    filters)."""
    _apply_log_level_env()
    eff = log.getEffectiveLevel()
    return min(max(eff, 10), 30)


# ------------------------------------------------------------------ clients


class Client:
    """One ``ck_client``: settings, Redis connections, per-process state."""

    def __init__(self, config_json: str | None) -> None:
        handle = ctypes.POINTER(_ffi.CkClient)()
        status = lib.ck_client_new(config_json.encode() if config_json else None, ctypes.byref(handle))
        if status != CK_OK:
            raise_status(status, "cannot create the client")
        self.handle: Any = handle
        self.config_json: str | None = config_json

    @classmethod
    def from_handle(cls, handle: Any, config_json: str | None) -> Client:
        self = cls.__new__(cls)
        self.handle = handle
        self.config_json = config_json
        return self

    def flush(self, timeout: float = 5.0) -> int:
        """Wait (at most ``timeout`` seconds) for the Redis writes made behind
        callers; returns how many are still under way."""
        pending = ctypes.c_uint64(0)
        status = lib.ck_flush(self.handle, int(timeout * 1000), ctypes.byref(pending))
        if status != CK_OK:
            raise_status(status, "ck_flush")
        return pending.value

    def metrics(self) -> str:
        buf = CkBuf()
        status = lib.ck_metrics(self.handle, ctypes.byref(buf))
        if status != CK_OK:
            raise_status(status, "ck_metrics")
        return take_buf(buf).decode()


_clients: dict[str | None, Client] = {}
_clients_lock = threading.Lock()


def get_client(config_json: str | None = None) -> Client:
    """The process's client for these explicit settings (``None``: environment only).

    Clients live for the whole process (the core makes them fork-safe)."""
    install_log_callback(initial_log_level())
    c = _clients.get(config_json)
    if c is not None:
        return c
    with _clients_lock:
        c = _clients.get(config_json)
        if c is None:
            c = Client(config_json)
            _clients[config_json] = c
        return c


# Clients replaced by reset_clients(): still used by the functions decorated
# before, and flushed at exit like the current ones.
_retired: list[Client] = []


def reset_clients() -> None:
    """Functions decorated from now on get new clients, which read the
    environment again (``cachekit.config.reset_settings``)."""
    with _clients_lock:
        _retired.extend(_clients.values())
        _clients.clear()


def flush_all(timeout: float = 5.0) -> int:
    """Wait for every client's writes made behind callers (a miss returns
    before its Redis write lands); returns how many are still under way."""
    return sum(c.flush(timeout) for c in [*_retired, *_clients.values()])


def shutdown(timeout: float = 5.0) -> int:
    """The exit hook: let every writes behind callers land, then stop the
    core's calls into Python, waiting for those under way (``ck_shutdown``).

    Run by ``atexit`` while the interpreter is still whole: once CPython
    finalizes, a core thread that takes the GIL (an async completion, a log
    event) is ended with ``pthread_exit``, whose unwind through the core
    aborts the process. After it, blocking calls keep working; an ``async``
    call that needs Redis runs the function uncached."""
    pending = ctypes.c_uint64(0)
    status = lib.ck_shutdown(int(timeout * 1000), ctypes.byref(pending))
    if status != CK_OK:
        raise_status(status, "ck_shutdown")
    return pending.value


atexit.register(shutdown)


def metrics_text(config_json: str | None = None) -> str:
    """Prometheus exposition text of every cache of the client."""
    return get_client(config_json).metrics()


# ------------------------------------------------------------------ namespaces


class Namespace:
    """One ``ck_cache``: a namespace with its options."""

    def __init__(self, client: Client, namespace: str, options: dict[str, Any]) -> None:
        handle = ctypes.POINTER(_ffi.CkCache)()
        status = lib.ck_cache_new(client.handle, namespace.encode(), json.dumps(options).encode(), ctypes.byref(handle))
        if status != CK_OK:
            raise_status(status, f"cannot open namespace {namespace!r}")
        self.client: Client = client
        self.handle: Any = handle
        self.namespace: str = namespace
        self.options: dict[str, Any] = options

    def __del__(self) -> None:
        h = getattr(self, "handle", None)
        if h:
            try:
                lib.ck_cache_free(h)
            except Exception:
                pass
            self.handle = None

    def _json(self, fn: Any, what: str) -> dict[str, Any]:
        buf = CkBuf()
        status = fn(self.handle, ctypes.byref(buf))
        if status != CK_OK:
            raise_status(status, what)
        return json.loads(take_buf(buf))

    def health(self) -> dict[str, Any]:
        return self._json(lib.ck_health, "ck_health")

    def check_health(self) -> dict[str, Any]:
        return self._json(lib.ck_check_health, "ck_check_health")

    def delete(self, op: bytes, args: bytes) -> bool:
        existed = ctypes.c_bool(False)
        status = lib.ck_delete(self.handle, op, args, len(args), ctypes.byref(existed))
        if status != CK_OK:
            raise_status(status, "ck_delete")
        return bool(existed.value)

    def exists(self, op: bytes, args: bytes) -> bool:
        out = ctypes.c_bool(False)
        status = lib.ck_exists(self.handle, op, args, len(args), ctypes.byref(out))
        if status != CK_OK:
            raise_status(status, "ck_exists")
        return bool(out.value)

    def ttl_ms(self, op: bytes, args: bytes) -> int:
        out = ctypes.c_int64(0)
        status = lib.ck_ttl(self.handle, op, args, len(args), ctypes.byref(out))
        if status != CK_OK:
            raise_status(status, "ck_ttl")
        return int(out.value)

    def make_key(self, op: bytes, args: bytes) -> str:
        buf = CkBuf()
        status = lib.ck_make_key(self.handle, op, args, len(args), ctypes.byref(buf))
        if status != CK_OK:
            raise_status(status, "ck_make_key")
        return take_buf(buf).decode()

    def discard(self, op: bytes, args: bytes, reason: str) -> None:
        """The value for ``op(args)`` could not be decoded: let the core drop it."""
        lib.ck_discard(self.handle, op, args, len(args), reason.encode("utf-8", "replace"))

    def clear_operation(self, op: bytes) -> int:
        """Delete every entry of one operation."""
        n = ctypes.c_uint64(0)
        status = lib.ck_clear_operation(self.handle, op, ctypes.byref(n))
        if status != CK_OK:
            raise_status(status, "ck_clear_operation")
        return int(n.value)

    def clear(self) -> int:
        n = ctypes.c_uint64(0)
        status = lib.ck_clear(self.handle, ctypes.byref(n))
        if status != CK_OK:
            raise_status(status, "ck_clear")
        return int(n.value)
