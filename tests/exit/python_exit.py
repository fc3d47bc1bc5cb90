"""Exits right after misses whose Redis writes are still behind the caller.

Sync and async cached functions without L1 (every call reaches Redis), a
daemon thread still inside cachekit calls when the interpreter exits, and an
async call whose completion is still pending when its event loop closes.
Prints one line; exits 0 with nothing on stderr, or the run failed."""

import asyncio
import sys
import threading

from cachekit import cache

ns, run = sys.argv[1], int(sys.argv[2])


@cache(namespace=ns, operation="f", l1_enabled=False)
def f(x):
    return {"x": x}


@cache(namespace=ns, operation="g", l1_enabled=False)
async def g(x):
    return {"x": x}


def daemon():
    i = 0
    while True:  # still calling when the interpreter finalizes
        f(["daemon", run, i % 64])
        i += 1


threading.Thread(target=daemon, daemon=True).start()


async def main():
    value = await g(run)
    # Still pending when asyncio.run() cancels it and closes the loop.
    asyncio.get_running_loop().create_task(g(["late", run]))
    await asyncio.sleep(0)
    return value


print("ok", f(run)["x"], asyncio.run(main())["x"])
