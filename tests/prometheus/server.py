"""The Python process of tests/prometheus/run.sh: the core's metrics in
prometheus_client's default registry (a collector that reads
``cachekit.metrics_text()`` at each scrape), served by prometheus_client's
WSGI app, as a Python service serves its own, while a workload runs through
``@cache`` functions against CACHEKIT_REDIS_URL.

    python server.py PORT NAMESPACE

NAMESPACE (L1 on) and NAMESPACE-l2 (L1 off): misses, fills, sets, L1 and L2
hits and deletes every round, 4 rounds a second. Stops by itself after
CACHEKIT_PROM_LIFETIME seconds (default 240).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, make_server

import cachekit
from prometheus_client import REGISTRY, make_wsgi_app
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families


class CachekitCollector:
    """The core's exposition as prometheus_client metric families."""

    def collect(self) -> Iterator[Metric]:
        yield from text_string_to_metric_families(cachekit.metrics_text())

    def describe(self) -> list[Metric]:
        # The families depend on the caches alive at scrape time: nothing to
        # declare up front (and no scrape of the core at registration).
        return []


def main() -> None:
    port, ns = int(sys.argv[1]), sys.argv[2]
    lifetime = float(os.environ.get("CACHEKIT_PROM_LIFETIME", "240"))

    @cachekit.cache(namespace=ns, operation="square", ttl=60)
    def f(n: int) -> int:
        return n * n

    @cachekit.cache(namespace=f"{ns}-l2", operation="square", ttl=60, l1_enabled=False)
    def g(n: int) -> int:
        return n * n

    def workload() -> None:
        r = 0
        while True:
            for i in range(5):
                f(r * 5 + i)  # miss: fill, set
                f(r * 5 + i)  # L1 hit
            f.invalidate_cache(r * 5)  # delete
            for i in range(3):
                g(i)  # L2 hits after the first round
            g(1000 + r)
            g.invalidate_cache(1000 + r)
            r += 1
            time.sleep(0.25)

    REGISTRY.register(CachekitCollector())
    threading.Thread(target=workload, daemon=True).start()
    threading.Timer(lifetime, lambda: os._exit(0)).start()

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    server = make_server("127.0.0.1", port, make_wsgi_app(REGISTRY), handler_class=Quiet)
    print(f"python: serving /metrics on 127.0.0.1:{port}", file=sys.stderr)
    server.serve_forever()


if __name__ == "__main__":
    main()
