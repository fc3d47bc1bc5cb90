"""Build hook: bundle the cachekit core (libcachekit.so) inside the package.

Where the core comes from, first match wins:

1. ``CACHEKIT_LIBRARY``: that file is bundled as it is (ci/package.sh passes
   the stripped release build here to make the wheel);
2. the Rust source: ``rust/`` inside an sdist, else the repository root of a
   checkout, built with ``cargo build --profile dist --lib`` (release code,
   no debug info; CARGO_TARGET_DIR is honoured) and the result bundled.

Without either, the build stops with a message that says what to install or
which variable to set.

Wheels are tagged ``py3-none-<platform>``: the package is pure Python around
a shared library loaded with ctypes, so one wheel serves every CPython 3 of a
platform. The sdist carries the core's Rust source (``rust/``) so that it
builds from source where no wheel fits.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist
from setuptools.dist import Distribution

try:  # setuptools >= 70.1 has its own; older ones use the wheel package's
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # pragma: no cover
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
LIBNAME = "libcachekit.dylib" if sys.platform == "darwin" else "libcachekit.so"
PROFILE = "dist"  # Cargo.toml [profile.dist]: release without debug info, stripped

# What of the repository an sdist needs to build the core (into rust/).
CORE_FILES = ["Cargo.lock", "LICENSE"]
CORE_DIRS = ["src", "include"]


def _say(msg: str) -> None:
    print(f"cachekit: {msg}", file=sys.stderr, flush=True)


def _rust_source() -> pathlib.Path | None:
    for root in (HERE / "rust", REPO):
        if (root / "Cargo.toml").is_file() and (root / "src" / "lib.rs").is_file():
            return root
    return None


def _core_library() -> pathlib.Path:
    explicit = os.environ.get("CACHEKIT_LIBRARY")
    if explicit:
        return pathlib.Path(explicit)
    root = _rust_source()
    if root is None:
        raise SystemExit(
            f"cachekit: no Rust source of the core here (looked for {HERE / 'rust'} and {REPO}).\n"
            f"  Set CACHEKIT_LIBRARY to a built {LIBNAME} (a release wheel carries one), or build from the sdist."
        )
    cargo = os.environ.get("CARGO") or shutil.which("cargo")
    if not cargo:
        raise SystemExit(
            "cachekit: building from source compiles the Rust core, and `cargo` is not on PATH.\n"
            "  Either install Rust (https://rustup.rs, then open a new shell so that ~/.cargo/bin is on PATH),\n"
            f"  or set CACHEKIT_LIBRARY=/path/to/{LIBNAME} to bundle a core built elsewhere,\n"
            "  or install a prebuilt wheel instead (pip install cachekit-*.whl) if one fits this platform."
        )
    cmd = [cargo, "build", "--profile", PROFILE, "--lib"]
    if (root / "Cargo.lock").is_file():
        cmd.append("--locked")
    _say(f"building the Rust core in {root}: {' '.join(cmd[1:])} (the first build takes a few minutes)")
    subprocess.check_call(cmd, cwd=root)
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or root / "target")
    if not target.is_absolute():
        target = root / target
    return target / PROFILE / LIBNAME


class BuildWithCore(build_py):
    def run(self) -> None:
        super().run()
        lib = _core_library()
        if not lib.exists():
            raise SystemExit(f"cachekit: {lib} does not exist")
        dest = pathlib.Path(self.build_lib) / "cachekit" / "_lib"
        dest.mkdir(parents=True, exist_ok=True)
        for old in dest.glob("libcachekit.*"):
            old.unlink()
        shutil.copyfile(lib, dest / LIBNAME)


def _standalone_manifest(text: str) -> str:
    """Cargo.toml of the repository, less what an sdist does not carry.

    The workspace (bindings/node), the benchmark, the example and the
    dev-dependencies name files outside src/; cargo refuses a manifest whose
    targets are missing, so those tables go (an empty [workspace] ends it).
    [package], [lib], [dependencies] and the profiles stay as they are.
    """
    keep = []
    drop = False
    for line in text.splitlines():
        header = re.match(r"^\s*\[\[?([^\]]+)\]\]?\s*(#.*)?$", line)
        if header:
            name = header.group(1).strip()
            drop = name in ("workspace", "bench", "example", "dev-dependencies") or name.startswith("workspace.")
        if not drop:
            keep.append(line)
    # Its own workspace: an sdist unpacked under another Cargo workspace
    # (as setuptools does, inside this repository) must not join it.
    return "\n".join(keep).rstrip() + "\n\n[workspace]\n"


class SdistWithCore(sdist):
    """The sdist carries the core's Rust source in rust/, so it builds anywhere cargo is."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        base = pathlib.Path(base_dir)
        for stale in (base / "src" / "cachekit" / "_lib").glob("libcachekit.*"):
            stale.unlink()  # a library left in the source tree is not source
        if (HERE / "rust" / "Cargo.toml").is_file():  # an sdist made from an sdist
            shutil.copytree(HERE / "rust", base / "rust", dirs_exist_ok=True)
            return
        if not (REPO / "Cargo.toml").is_file():
            raise SystemExit(f"cachekit: the sdist needs the core's source; no Cargo.toml at {REPO}")
        rust = base / "rust"
        rust.mkdir(exist_ok=True)
        (rust / "Cargo.toml").write_text(_standalone_manifest((REPO / "Cargo.toml").read_text()))
        for name in CORE_FILES:
            if (REPO / name).is_file():
                shutil.copyfile(REPO / name, rust / name)
        for name in CORE_DIRS:
            shutil.copytree(REPO / name, rust / name, dirs_exist_ok=True)
        # The repository's Cargo.lock also locks the workspace's other members
        # (the Node addon) and dev-dependencies; cargo refuses `--locked` with
        # entries it would drop. `cargo metadata --offline` drops them and
        # changes no version.
        cargo = os.environ.get("CARGO") or shutil.which("cargo")
        if not cargo:
            raise SystemExit("cachekit: making the sdist needs cargo (it trims the core's Cargo.lock to the core)")
        subprocess.check_call(
            [cargo, "metadata", "--offline", "--format-version", "1", "--manifest-path", str(rust / "Cargo.toml")],
            stdout=subprocess.DEVNULL,
        )


class PlatformWheel(bdist_wheel):
    def get_tag(self) -> tuple[str, str, str]:
        _python, _abi, plat = super().get_tag()
        return "py3", "none", plat  # ctypes: any CPython 3, this platform


class BinaryDistribution(Distribution):
    def has_ext_modules(self) -> bool:  # platform wheel: it carries a shared library
        return True


setup(
    cmdclass={"build_py": BuildWithCore, "sdist": SdistWithCore, "bdist_wheel": PlatformWheel},
    distclass=BinaryDistribution,
)
