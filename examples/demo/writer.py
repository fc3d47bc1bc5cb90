"""The demo's writer: a Python function cached with @cache. Its result goes
to Redis, where the C, PHP, Node.js and Go programs beside this file read it.

    CACHEKIT_REDIS_URL=redis://127.0.0.1:6379 python examples/demo/writer.py
"""

import sys
import time

from cachekit import cache


@cache(namespace="demo", operation="price", ttl=300)
def price(sku: str) -> dict[str, object]:
    time.sleep(0.2)  # a slow pricing service
    return {"sku": sku, "price": 19.99, "currency": "EUR", "in_stock": True, "computed_by": "python"}


def main() -> None:
    sku = sys.argv[1] if len(sys.argv) > 1 else "sku-42"
    price.invalidate_cache(sku)  # start from nothing, so this call computes
    t = time.perf_counter()
    value = price(sku)
    ms = (time.perf_counter() - t) * 1000
    print(f"python  price({sku!r}) computed and cached in {ms:8.2f} ms: {value}")


if __name__ == "__main__":
    main()
