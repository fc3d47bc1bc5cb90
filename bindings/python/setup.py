"""Build hook: bundle the cachekit core (libcachekit.so) inside the package.

With CACHEKIT_LIBRARY set, that file is bundled; otherwise the repository's
core is built with `cargo build --release` (CARGO_TARGET_DIR is honoured)
and the result bundled.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
LIBNAME = "libcachekit.dylib" if sys.platform == "darwin" else "libcachekit.so"


def _core_library() -> pathlib.Path:
    explicit = os.environ.get("CACHEKIT_LIBRARY")
    if explicit:
        return pathlib.Path(explicit)
    if not (REPO / "Cargo.toml").exists():
        raise SystemExit(f"cachekit: no Cargo.toml at {REPO}; set CACHEKIT_LIBRARY to a built {LIBNAME}")
    subprocess.check_call(["cargo", "build", "--release", "--lib"], cwd=REPO)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")
    if not target.is_absolute():
        target = REPO / target
    return target / "release" / LIBNAME


class BuildWithCore(build_py):
    def run(self) -> None:
        super().run()
        lib = _core_library()
        if not lib.exists():
            raise SystemExit(f"cachekit: {lib} does not exist")
        dest = pathlib.Path(self.build_lib) / "cachekit" / "_lib"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib, dest / LIBNAME)


class BinaryDistribution(Distribution):
    def has_ext_modules(self) -> bool:  # platform wheel: it carries a shared library
        return True


setup(cmdclass={"build_py": BuildWithCore}, distclass=BinaryDistribution)
