"""Writer of the packaging test: the installed wheel's @cache computes and
stores greet("world") in NAMESPACE (Redis from CACHEKIT_REDIS_URL); the
other languages then read it as a hit.

    python write.py NAMESPACE
"""

import sys

from cachekit import cache

ns = sys.argv[1]
runs = []


@cache(namespace=ns, operation="greet", ttl=600)
def greet(name):
    runs.append(name)
    return "hello from python"


value = greet("world")
if runs != ["world"] or value != "hello from python":
    sys.exit(f"python: expected one run returning the value, got runs={runs} value={value!r}")
print(f"python: wrote {value!r} (a miss: the function ran once)")
