"""Shared fixtures. Tests that need Redis FAIL (not skip) without
CACHEKIT_TEST_REDIS_URL. The environment is set before cachekit creates its
process client, so ``@cache`` without ``backend=`` uses the test server."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

TEST_REDIS_URL = os.environ.get("CACHEKIT_TEST_REDIS_URL")
MASTER_KEY = "a1" * 32  # 64 hex digits
OTHER_KEY = "b2" * 32

for var in ("REDIS_URL", "CACHEKIT_KEY_PREFIX", "CACHEKIT_TENANT_ID"):
    os.environ.pop(var, None)
if TEST_REDIS_URL:
    os.environ["CACHEKIT_REDIS_URL"] = TEST_REDIS_URL
else:
    os.environ.pop("CACHEKIT_REDIS_URL", None)
os.environ["CACHEKIT_MASTER_KEY"] = MASTER_KEY


@pytest.fixture
def redis_url() -> str:
    if not TEST_REDIS_URL:
        pytest.fail("CACHEKIT_TEST_REDIS_URL is not set: these tests need a real Redis (see bindings/python/ci.sh)")
    return TEST_REDIS_URL


def redis_cli(url: str, *args: str) -> str:
    out = subprocess.run(["redis-cli", "-u", url, "--no-raw", *args], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def redis_cli_raw(url: str, *args: str) -> bytes:
    return subprocess.run(["redis-cli", "-u", url, "--raw", *args], capture_output=True, check=True).stdout


@pytest.fixture
def ns() -> str:
    """A namespace of its own for each test."""
    return f"t{uuid.uuid4().hex[:12]}"


class RedisServer:
    """A redis-server of a test's own, on a free loopback port, that can be killed and restarted."""

    def __init__(self, tmp: str) -> None:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port: int = s.getsockname()[1]
        s.close()
        self.dir: str = tmp
        self.proc: subprocess.Popen[bytes] | None = None
        self.url: str = f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed")
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for _ in range(200):
            if self.ready():
                return
            time.sleep(0.02)
        pytest.fail("own redis-server did not start")

    def ready(self) -> bool:
        """PING is answered with PONG, or with an auth error (a server that
        wants a password is up too); refused or LOADING is not ready yet."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                reply = s.makefile("rb").readline()
        except OSError:
            return False
        return reply == b"+PONG\r\n" or reply.startswith((b"-NOAUTH", b"-WRONGPASS"))

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def own_redis(tmp_path: object) -> Iterator[RedisServer]:
    server = RedisServer(str(tmp_path))
    server.start()
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture
def caplog_cachekit(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.WARNING, logger="cachekit")
    return caplog


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A skipped test is a failure here (as Go's ci.sh and PHP's failOnSkipped):
    a missing dependency or an empty parametrisation (pytest skips a test whose
    parameter list is empty, "got empty parameter set") must not pass the run."""
    outcome = yield
    report = outcome.get_result()  # pyright: ignore[reportAttributeAccessIssue]
    if report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped tests fail this suite: {item.nodeid}: {reason}"
