"""The cachekit protocol's vectors (tests/vectors/*.json), where this wrapper
has a part in them: its argument encoding (the Python call derives the key
every other SDK derives), its StandardSerializer (the value bytes every SDK
writes and reads), and its read path (an entry another SDK wrote in Redis is
returned, or, if it must be refused, recomputed without an exception reaching
the caller).

Sections left to the core's own run of every vector (tests/vectors.rs),
because no Python code takes part in them:

* interop-mode.json ``aad_vectors``: the AAD is built and checked inside the
  core; the encryption round trips below fail unless it is the vector's.
* wire-format.json ``vectors`` and ``constructed_vectors``: their payloads are
  arbitrary bytes labelled ``"msgpack"``. The core's read path pre-scans a
  ``"msgpack"`` payload as one MessagePack document (tests/vectors.rs uses
  ``decode_envelope_raw`` for them), so they cannot reach a Python
  serializer; LZ4 and xxHash3 are core-only.
* encryption.json ``vectors``, ``aad_reject_vectors``, the ciphertexts of
  ``keyring.vectors`` and the non-interop ``decrypted_container`` rows: their
  cache keys (``test:vector:1``, ``keyring:k1:entry``, ...) are not keys a
  Python call derives (the AAD binds the key), and the readers they name are
  other SDKs' containers. The keyring's key fingerprints, its configuration
  rows and a rotation through ``decrypt_only_keys`` run below.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import pathlib
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import msgpack
import pytest

from cachekit import InteropError, cache, generate_interop_key
from cachekit.errors import ConfigurationError, EncryptionError
from cachekit.serializers import EncryptionWrapper, StandardSerializer
from conftest import redis_cli, redis_cli_raw

VECTOR_DIR = pathlib.Path(__file__).resolve().parents[3] / "tests" / "vectors"
VECTORS = VECTOR_DIR / "interop-mode.json"
DOC: dict[str, Any] = json.loads(VECTORS.read_text())
WIRE: dict[str, Any] = json.loads((VECTOR_DIR / "wire-format.json").read_text())
ENC: dict[str, Any] = json.loads((VECTOR_DIR / "encryption.json").read_text())
BOUNDS: dict[str, Any] = json.loads((VECTOR_DIR / "decode-bounds.json").read_text())
KEYS_BY_KEY: dict[str, dict[str, Any]] = {v["expected_key"]: v for v in DOC["key_vectors"]}
LANDING_S = 5.0  # bound for a write behind to reach Redis


class Inexpressible(Exception):
    """A tagged value with no Python form (none so far: a Python int has no
    bound and a naive datetime exists, so the core refuses those vectors)."""


# Error vectors whose input Python cannot hold; every other one must be
# refused by the encoder or the core. Pinned, so a new vector is never
# silently left out (Rust, Go and PHP pin theirs too).
INEXPRESSIBLE_ERROR_VECTORS: list[str] = []


def untag(v: Any) -> Any:
    """The vector files' tagged JSON as Python values; an unknown ``$`` tag raises."""
    if isinstance(v, list):
        return [untag(x) for x in v]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(v, dict):
        if len(v) == 1:  # pyright: ignore[reportUnknownArgumentType]
            ((k, x),) = v.items()  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]
            if k == "$int":
                return int(x)  # pyright: ignore[reportUnknownArgumentType]
            if k == "$float":
                return float(x)  # pyright: ignore[reportUnknownArgumentType]
            if k == "$bytes":
                return bytes.fromhex(x)  # pyright: ignore[reportUnknownArgumentType]
            if k == "$uuid":
                return uuid.UUID(x)  # pyright: ignore[reportUnknownArgumentType]
            if k == "$datetime":
                return dt.datetime.fromisoformat(x.replace("Z", "+00:00"))  # pyright: ignore[reportUnknownMemberType]
            if k == "$set":
                return frozenset(untag(e) for e in x)  # pyright: ignore[reportUnknownVariableType]
            if k.startswith("$"):  # pyright: ignore[reportUnknownMemberType]
                raise ValueError(f"unknown tag {k}")
        return {k: untag(x) for k, x in v.items()}  # pyright: ignore[reportUnknownVariableType]
    return v


def typed_equal(a: Any, b: Any) -> bool:
    """Equal values of the same types (2.0 is not 2); map order is free."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(typed_equal(a[k], b[k]) for k in a)  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType, reportUnknownVariableType]
    if isinstance(a, list):
        return len(a) == len(b) and all(typed_equal(x, y) for x, y in zip(a, b))  # pyright: ignore[reportUnknownArgumentType, reportUnknownVariableType]
    return bool(a == b)


def sort_keys(v: Any) -> Any:
    """The value with every map's keys in canonical (code point) order."""
    if isinstance(v, list):
        return [sort_keys(x) for x in v]  # pyright: ignore[reportUnknownVariableType]
    if isinstance(v, dict):
        return {k: sort_keys(v[k]) for k in sorted(v)}  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType]
    return v


def construct(c: dict[str, Any]) -> bytes:
    return bytes.fromhex(c["repeat_hex"]) * int(c["count"]) + bytes.fromhex(c["suffix_hex"])


# ------------------------------------------------------------------ Redis helpers


def plant(url: str, key: str, data: bytes) -> None:
    """Write raw bytes under ``key`` (as another SDK would have)."""
    out = subprocess.run(["redis-cli", "-u", url, "-x", "SET", key], input=data, capture_output=True, check=True)
    assert out.stdout.strip() == b"OK", out


def stored(url: str, key: str) -> bytes | None:
    if redis_cli(url, "EXISTS", key) != "(integer) 1":
        return None
    raw = redis_cli_raw(url, "GET", key)
    assert raw.endswith(b"\n")  # redis-cli --raw ends the bulk string with a newline
    return raw[:-1]


def wait_stored(url: str, key: str, want: bytes) -> bytes | None:
    """The bytes under ``key`` once they are ``want`` (bounded wait: the write lands behind the call)."""
    deadline = time.monotonic() + LANDING_S
    got = stored(url, key)
    while got != want and time.monotonic() < deadline:
        time.sleep(0.05)
        got = stored(url, key)
    return got


class Reader:
    """A function of an interop (or envelope) namespace whose body records
    its runs: what the read path returns for an entry planted in Redis."""

    def __init__(self, ns: str, operation: str = "read", interop: bool = True, **options: Any) -> None:
        self.runs: list[Any] = []

        def read(*args: Any) -> Any:
            self.runs.append(args)
            return f"computed {args!r}"

        if interop:
            options["interop"] = operation
        else:
            options["operation"] = operation
        self.f: Any = cache(namespace=ns, l1_enabled=False, **options)(read)

    def corrupt_entries(self) -> int:
        return int(self.f.get_health_status()["stats"]["corrupt_entries"])


def assert_recomputed(url: str, r: Reader, args: tuple[Any, ...], bad: bytes) -> None:
    """The planted entry is refused: the call recomputes, nothing is raised,
    the refusal is counted and the entry is replaced by the computed value."""
    key = r.f.cache_key(*args)
    plant(url, key, bad)
    corrupt = r.corrupt_entries()
    assert r.f(*args) == f"computed {args!r}"
    assert r.runs == [args]
    assert r.corrupt_entries() == corrupt + 1
    assert r.f(*args) == f"computed {args!r}"  # now served from the replacement
    assert r.runs == [args]


def assert_read(url: str, r: Reader, args: tuple[Any, ...], planted: bytes, expected: Any) -> None:
    """The planted entry is returned as ``expected``, and the function does not run."""
    plant(url, r.f.cache_key(*args), planted)
    got = r.f(*args)
    assert r.runs == [], "the function ran: the entry was refused"
    assert typed_equal(got, expected), (got, expected)


# ------------------------------------------------------------------ interop-mode.json: keys


def key_of(namespace: str, operation: str, args: list[Any]) -> str:
    # The process's Redis client (interop refuses backend=None); cache_key()
    # only derives the key, nothing is sent to Redis.
    @cache(namespace=namespace, interop=operation)
    def f(*a: Any) -> None:
        return None

    return f.cache_key(*args)


@pytest.mark.parametrize("vec", DOC["key_vectors"], ids=[v["name"] for v in DOC["key_vectors"]])
def test_key_vector(vec: dict[str, Any]) -> None:
    assert key_of(vec["namespace"], vec["operation"], untag(vec["args"])) == vec["expected_key"]


@pytest.mark.parametrize("vec", DOC["error_vectors"], ids=[v["name"] for v in DOC["error_vectors"]])
def test_error_vector(vec: dict[str, Any]) -> None:
    try:
        args = untag(vec["args"])  # outside pytest.raises: a loader error is no refusal
    except Inexpressible:
        assert vec["name"] in INEXPRESSIBLE_ERROR_VECTORS
        return
    with pytest.raises((TypeError, ValueError)):
        key_of(vec.get("namespace", "t"), vec.get("operation", "op"), args)


def test_inexpressible_error_vectors_are_pinned() -> None:
    inexpressible: list[str] = []
    for vec in DOC["error_vectors"]:
        try:
            untag(vec["args"])
        except Inexpressible:
            inexpressible.append(vec["name"])
    assert sorted(inexpressible) == sorted(INEXPRESSIBLE_ERROR_VECTORS)


# ------------------------------------------------------------------ interop-mode.json: values

# What a vector's value is to Python where the tagged JSON is not it: the
# temporal sentinel map is revived as the datetime it stands for.
DATETIME_SENTINEL = "datetime_sentinel_value"


def python_value(vec: dict[str, Any]) -> Any:
    value = untag(vec["value"])
    if vec["name"] == DATETIME_SENTINEL:
        return dt.datetime.fromisoformat(value["value"])
    return value


@pytest.mark.parametrize("vec", DOC["value_vectors"], ids=[v["name"] for v in DOC["value_vectors"]])
def test_value_vector_standard_serializer(vec: dict[str, Any]) -> None:
    canonical = bytes.fromhex(vec["canonical_msgpack_hex"])
    s = StandardSerializer()
    # Shortest forms, float64, str/bin types: with keys in canonical order the
    # serializer's bytes are the canonical bytes (the core sorts keys on write).
    assert s.serialize(sort_keys(untag(vec["value"])))[0] == canonical
    assert s.serialize(sort_keys(python_value(vec)))[0] == canonical
    assert typed_equal(s.deserialize(canonical), python_value(vec))


@pytest.mark.parametrize("vec", DOC["value_vectors"], ids=[v["name"] for v in DOC["value_vectors"]])
def test_value_vector_interop_write_and_read(redis_url: str, ns: str, vec: dict[str, Any]) -> None:
    runs = [0]
    value = python_value(vec)  # as given: keys not sorted, a datetime as a datetime

    @cache(namespace=ns, interop="value", l1_enabled=False)
    def f() -> Any:
        runs[0] += 1
        return value

    canonical = bytes.fromhex(vec["canonical_msgpack_hex"])
    assert typed_equal(f(), value)
    assert wait_stored(redis_url, f.cache_key(), canonical) == canonical  # what every SDK reads
    assert typed_equal(f(), value)  # read back from Redis (L1 is off)
    assert runs[0] == 1


# ------------------------------------------------------------------ interop-mode.json: readers

# What Python makes of the accept vectors that tagged JSON cannot carry.
READER_VALUES: dict[str, Any] = {
    "reader_non_string_map_key": {1: 42},
    "reader_ext_type": msgpack.ExtType(1, b"\x2a"),
}


def reader_doc(vec: dict[str, Any]) -> str:
    """A reader vector's document: `input_hex` in the later 1.3.0 revision, `msgpack_hex` before."""
    return str(vec["input_hex"] if "input_hex" in vec else vec["msgpack_hex"])


@pytest.mark.parametrize("vec", DOC["reader_accept_vectors"], ids=[v["name"] for v in DOC["reader_accept_vectors"]])
def test_reader_accept_vector(redis_url: str, ns: str, vec: dict[str, Any]) -> None:
    expected = untag(vec["value"]) if "value" in vec else READER_VALUES[vec["name"]]
    assert_read(redis_url, Reader(ns), (1,), bytes.fromhex(reader_doc(vec)), expected)


@pytest.mark.parametrize("vec", DOC["reader_reject_vectors"], ids=[v["name"] for v in DOC["reader_reject_vectors"]])
def test_reader_reject_vector(redis_url: str, ns: str, vec: dict[str, Any]) -> None:
    assert_recomputed(redis_url, Reader(ns), (1,), bytes.fromhex(reader_doc(vec)))


# ------------------------------------------------------------------ decode-bounds.json


def nested_list(depth: int) -> Any:
    v: Any = None
    for _ in range(depth):
        v = [v]
    return v


def nested_map(depth: int) -> Any:
    v: Any = None
    for _ in range(depth):
        v = {"": v}
    return v


BOUNDS_VALUES: dict[str, Callable[[], Any]] = {
    "nested_fixarray_depth_32": lambda: nested_list(32),
    "nested_fixmap_depth_32": lambda: nested_map(32),
    "array16_256_backed_nils": lambda: [None] * 256,
}


@pytest.mark.parametrize("vec", BOUNDS["accept_vectors"], ids=[v["name"] for v in BOUNDS["accept_vectors"]])
def test_decode_bounds_accept(redis_url: str, ns: str, vec: dict[str, Any]) -> None:
    data = construct(vec["construction"])
    assert data.hex() == vec["input_hex"]
    assert_read(redis_url, Reader(ns), (1,), data, BOUNDS_VALUES[vec["name"]]())


@pytest.mark.parametrize("vec", BOUNDS["reject_vectors"], ids=[v["name"] for v in BOUNDS["reject_vectors"]])
def test_decode_bounds_reject(redis_url: str, ns: str, vec: dict[str, Any]) -> None:
    data = construct(vec["construction"])
    assert len(data) == vec["input_len"]
    assert_recomputed(redis_url, Reader(ns), (1,), data)


# ------------------------------------------------------------------ wire-format.json


@pytest.mark.parametrize(
    "vec", WIRE["temporal_sentinel_vectors"], ids=[v["name"] for v in WIRE["temporal_sentinel_vectors"]]
)
def test_temporal_sentinel_vector(redis_url: str, ns: str, vec: dict[str, Any]) -> None:
    payload = bytes.fromhex(vec["payload_hex"])
    kind, iso = vec["revives_to"]["type"], vec["revives_to"]["iso"]
    want: Any = {"datetime": dt.datetime, "date": dt.date, "time": dt.time}[kind].fromisoformat(iso)
    s = StandardSerializer()
    assert typed_equal(s.deserialize(payload), want)  # revived, not the map
    assert s.serialize(want)[0] == payload  # and written as the same map
    assert_read(redis_url, Reader(ns), (1,), payload, want)  # an interop entry holding it


@pytest.mark.parametrize(
    "vec",
    WIRE["reject_vectors"] + WIRE["payload_reject_vectors"],
    ids=[v["name"] for v in WIRE["reject_vectors"] + WIRE["payload_reject_vectors"]],
)
def test_envelope_reject_vector(redis_url: str, ns: str, vec: dict[str, Any]) -> None:
    assert vec["format"] == "msgpack"  # the StandardSerializer's envelope format
    r = Reader(ns, interop=False)
    assert r.f.cache_key(1).endswith(":e1")
    assert_recomputed(redis_url, r, (1,), bytes.fromhex(vec["envelope_hex"]))


# ------------------------------------------------------------------ encryption (interop entries)


def sealed_rows() -> list[tuple[str, dict[str, Any], str, str | None]]:
    """(name, row, master key hex, tenant or None) of every sealed interop entry."""
    rows: list[tuple[str, dict[str, Any], str, str | None]] = []
    for v in DOC["encryption_vectors"]:
        rows.append((v["name"], v, v["master_key_hex"], v["tenant_id"]))
    default = ENC["default_tenant"]  # tenant "default": the one used when none is given
    for v in default["vectors"]:
        row = {**v, "derived_key_fingerprint_hex": default["derived_key_fingerprint_hex"]}
        rows.append((v["name"], row, ENC["master_key_hex"], None))
    for v in ENC["master_key_input"]["accept_vectors"]:
        rows.append((v["name"], v, v["master_key_hex"], None))
    return rows


SEALED = sealed_rows()


def sealed_reader(row: dict[str, Any], master_key: str, tenant: str | None) -> tuple[Reader, tuple[Any, ...]]:
    kv = KEYS_BY_KEY[row["cache_key"]]
    options: dict[str, Any] = {"encryption": True, "master_key": master_key}
    if tenant is not None:
        options["tenant_id"] = tenant
    r = Reader(kv["namespace"], kv["operation"], **options)
    args = tuple(untag(kv["args"]))
    assert r.f.cache_key(*args) == row["cache_key"]
    return r, args


@pytest.mark.parametrize(("name", "row", "master_key", "tenant"), SEALED, ids=[s[0] for s in SEALED])
def test_sealed_interop_entry_is_read(
    redis_url: str, name: str, row: dict[str, Any], master_key: str, tenant: str | None
) -> None:
    r, args = sealed_reader(row, master_key, tenant)
    enc = r.f.get_health_status()["encryption"]
    assert enc["key_fingerprint"] == row["derived_key_fingerprint_hex"]
    assert enc["tenant_id"] == (tenant if tenant is not None else "default")
    plaintext = bytes.fromhex(row["plaintext_hex"])
    key = row["cache_key"]
    try:
        assert_read(
            redis_url, r, args, bytes.fromhex(row["ciphertext_hex"]), StandardSerializer().deserialize(plaintext)
        )
    finally:
        redis_cli(redis_url, "DEL", key)  # a fixed key of the shared server


INTEROP_CONTAINERS = [v for v in ENC["decrypted_container"]["vectors"] if v["reader"] == "interop"]


@pytest.mark.parametrize("row", INTEROP_CONTAINERS, ids=[v["name"] for v in INTEROP_CONTAINERS])
def test_sealed_interop_container_is_refused(redis_url: str, row: dict[str, Any]) -> None:
    assert row["outcome"] == "error"
    r, args = sealed_reader(row, ENC["master_key_hex"], ENC["tenant_id"])
    try:
        assert_recomputed(redis_url, r, args, bytes.fromhex(row["ciphertext_hex"]))
    finally:
        redis_cli(redis_url, "DEL", row["cache_key"])


# ------------------------------------------------------------------ encryption.json: master key input


MK_REJECT = ENC["master_key_input"]["reject_vectors"]
MK_RAW_REJECT = ENC["master_key_input"]["raw_reject_vectors"]


def _fn() -> int:
    return 1


@pytest.mark.parametrize("vec", MK_REJECT, ids=[v["name"] for v in MK_REJECT])
def test_master_key_hex_reject(vec: dict[str, Any]) -> None:
    key: str = vec["master_key_hex"]
    with pytest.raises(EncryptionError):
        cache.secure(master_key=key, backend=None)(_fn)
    with pytest.raises(EncryptionError):
        cache(encryption=True, master_key=key, backend=None)(_fn)
    with pytest.raises(EncryptionError):
        cache(serializer=EncryptionWrapper(master_key=key), backend=None)(_fn)


@pytest.mark.parametrize("vec", MK_RAW_REJECT, ids=[v["name"] for v in MK_RAW_REJECT])
def test_master_key_raw_reject(vec: dict[str, Any]) -> None:
    raw = bytes.fromhex(vec["raw_key_hex"])
    with pytest.raises(EncryptionError):
        cache.secure(master_key=raw, backend=None)(_fn)
    with pytest.raises(EncryptionError):
        cache(serializer=EncryptionWrapper(master_key=raw), backend=None)(_fn)


# ---------------------------------------------------------------- the protocol's Python conveniences


class _Color(enum.Enum):
    RED = "red"


# The interop keys PyPI cachekit 0.24.1 derives for these arguments
# (cachekit.interop.generate_interop_key("users", "op", [arg]), recorded by
# running it): an Enum is hashed as its value, a Decimal as str(), a PurePath
# as its POSIX string.
CONVENIENCE_KEYS = [
    ("enum", _Color.RED, "red", "users:op:91874aec76e91736f54c3a2e42ca9d49b89c2b7b1e03ebcd2f695c8ead8f1d3d"),
    ("decimal", decimal.Decimal("1.50"), "1.50",
     "users:op:fea2a030cacf7137cb5931644c7caa6203ba21e0ca8bca13c7d470119e255ea2"),
    ("posix-path", pathlib.PurePosixPath("/a/b"), "/a/b",
     "users:op:fa71786dfd50c2da55c95c64445385884267b51b07697dbf681bcda30ebd47c1"),
    ("windows-path", pathlib.PureWindowsPath("C:\\a\\b"), "C:/a/b",
     "users:op:936da2e46d7666234f163a04eee6ae5f8a6c9f195bdf6740e2703fa21381af8f"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "arg", "plain", "key"), CONVENIENCE_KEYS, ids=[c[0] for c in CONVENIENCE_KEYS])
def test_a_python_convenience_argument_has_the_reference_sdks_interop_key(
    redis_url: str, name: str, arg: Any, plain: str, key: str
) -> None:
    @cache(interop="op", namespace="users")
    def op(x: Any) -> int:
        return 1

    assert op.cache_key(arg) == key
    assert generate_interop_key("users", "op", [arg]) == key


@pytest.mark.parametrize(("name", "arg", "plain", "key"), CONVENIENCE_KEYS, ids=[c[0] for c in CONVENIENCE_KEYS])
def test_a_python_convenience_argument_is_keyed_as_its_plain_value_in_envelope_mode(
    redis_url: str, ns: str, name: str, arg: Any, plain: str, key: str
) -> None:
    @cache(namespace=ns)
    def op(x: Any) -> int:
        return 1

    assert op.cache_key(arg) == op.cache_key(plain)


def test_a_date_argument_has_no_interop_key(redis_url: str) -> None:
    with pytest.raises(InteropError):
        generate_interop_key("users", "op", [dt.date(2024, 1, 2)])


# ---------------------------------------------------------------- encryption.json: keyring

KEYRING: dict[str, Any] = ENC["keyring"]
KEYRING_ENTRIES: list[dict[str, Any]] = KEYRING["entries"]
KEYRING_CONFIG: list[dict[str, Any]] = KEYRING["configuration"]["vectors"]
assert len(KEYRING_ENTRIES) >= 2 and len(KEYRING_CONFIG) >= 4


@pytest.mark.parametrize("entry", KEYRING_ENTRIES, ids=[e["id"] for e in KEYRING_ENTRIES])
def test_keyring_entry_derives_the_vectors_key(entry: dict[str, Any]) -> None:
    f = cache(encryption=True, master_key=entry["master_key_hex"], tenant_id=KEYRING["tenant_id"], backend=None)(_fn)
    assert f.get_health_status()["encryption"]["key_fingerprint"] == entry["derived_key_fingerprint_hex"]


@pytest.mark.parametrize("vec", KEYRING_CONFIG, ids=[v["name"] for v in KEYRING_CONFIG])
def test_keyring_configuration_is_accepted_or_refused_at_decoration(vec: dict[str, Any]) -> None:
    def decorate() -> Any:
        return cache(
            encryption=True,
            master_key=vec["current_master_key_hex"],
            decrypt_only_keys=vec["decrypt_only_master_keys_hex"],
            backend=None,
        )(_fn)

    if vec["verdict"] == "accept":
        assert decorate()() == 1
    else:
        assert vec["verdict"] == "reject"
        with pytest.raises((EncryptionError, ConfigurationError)):
            decorate()


def test_keyring_rotation_reads_an_entry_of_a_decrypt_only_key(redis_url: str, ns: str) -> None:
    """An entry written under k1 is read (no recomputation) by a function whose
    current key is k2 with k1 decrypt-only, and is a miss for k2 alone."""
    k1, k2 = (e["master_key_hex"] for e in KEYRING_ENTRIES[:2])
    tenant = KEYRING["tenant_id"]
    calls: list[str] = []

    def make(name: str, master_key: str, old: list[str | bytes]) -> Any:
        @cache(namespace=ns, operation="rot", encryption=True, master_key=master_key, decrypt_only_keys=old,
               tenant_id=tenant, l1_enabled=False)  # fmt: skip
        def f(x: int) -> str:
            calls.append(name)
            return f"{name}:{x}"

        return f

    writer = make("k1", k1, [])
    assert writer(1) == "k1:1"
    assert writer.cache_exists(1)  # this thread's next command: the write has landed
    assert make("k2+k1", k2, [k1])(1) == "k1:1"
    assert make("k2", k2, [])(1) == "k2:1"
    assert calls == ["k1", "k2"]
