"""`pip install` of the package gives a working `from cachekit import cache` in a
fresh virtual environment, with the core bundled inside the package.

The build hook (setup.py) bundles the library named by CACHEKIT_LIBRARY, here
the debug core the other tests use; without it, it runs `cargo build --release`
(too slow for the test command, and the same copy step afterwards)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

from cachekit._ffi import library_path

HERE = pathlib.Path(__file__).resolve().parent.parent  # bindings/python

PROGRAM = """
import pathlib, sys
import cachekit
from cachekit import cache

calls = []

@cache(backend=None, namespace="packaging")
def double(x: int) -> int:
    calls.append(x)
    return 2 * x

assert double(21) == 42 and double(21) == 42, "wrong value"
assert calls == [21], f"function ran {len(calls)} times"
loaded = pathlib.Path(cachekit._ffi.library_path()).resolve()
package = pathlib.Path(cachekit.__file__).resolve().parent
assert loaded.is_relative_to(package), f"core loaded from {loaded}, not from the package {package}"
assert "site-packages" in str(package), package
print("ok", cachekit.core_version())
"""


def test_pip_install_into_a_fresh_venv_bundles_the_core(tmp_path: pathlib.Path) -> None:
    # Build from a copy: pip builds in the source tree, which must stay clean.
    source = tmp_path / "src-copy"
    shutil.copytree(HERE, source, ignore=shutil.ignore_patterns("tests", "build", "*.egg-info", "__pycache__"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CACHEKIT_LIBRARY")}
    env["CACHEKIT_LIBRARY"] = str(library_path())
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         "-c", str(HERE / "requirements-dev.txt"), str(source)],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr

    env.pop("CACHEKIT_LIBRARY")  # the installed package must find its own copy
    for var in ("CACHEKIT_REDIS_URL", "REDIS_URL"):
        env.pop(var, None)
    run = subprocess.run([str(python), "-c", PROGRAM], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("ok "), run.stdout
    bundled = list((venv / "lib").glob("python*/site-packages/cachekit/_lib/libcachekit.so"))
    assert len(bundled) == 1, bundled
    assert (bundled[0].parent.parent / "py.typed").exists()
