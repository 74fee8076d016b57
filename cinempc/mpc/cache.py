"""Disk cache of compiled solver code, keyed by a hash of the problem structure.

Why: a drone node must not spend a minute in gcc at start-up in the field.  The
first run on a machine compiles the generated C once into
``$CINEMPC_CACHE_DIR`` (default ``~/.cache/cinempc``); every later process --
any shot, camera, vehicle or weight, since those are run-time parameters --
loads the shared object in milliseconds.  Writes go to a temporary file and are
renamed into place, so concurrent processes never load a half-written library.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CACHE_ENV = "CINEMPC_CACHE_DIR"


def cache_dir() -> Path:
    """Where compiled solvers live (created on demand)."""
    root = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "cinempc")
    root.mkdir(parents=True, exist_ok=True)
    return root


def compiler() -> str | None:
    """The C compiler to use: ``$CC`` or gcc/cc on the PATH; None when there is none."""
    for candidate in (os.environ.get("CC"), "gcc", "cc"):
        if candidate and shutil.which(candidate):
            return candidate
    return None


def compiled_library(key: str, write_source, flags: list[str]) -> tuple[Path, float]:
    """Path of the shared library for ``key``, compiling it first if needed.

    ``write_source(path)`` writes the C file.  Returns the library and the build
    time in seconds (0 when it came from the cache).  Raises RuntimeError when no
    compiler is available or the build fails.
    """
    # the flags are part of the key: a library built with other flags is another library.  With -march=native
    # the CPU is too: a cache directory carried to another machine must not load code for an instruction set
    # that CPU lacks (SIGILL in flight).
    machine = _cpu_identity() if any("native" in flag for flag in flags) else ""
    flag_tag = hashlib.sha256((" ".join(flags) + machine).encode()).hexdigest()[:8]
    target = cache_dir() / f"cinempc_mpc_{key}_{flag_tag}.so"
    if target.is_file():
        return target, 0.0
    cc = compiler()
    if cc is None:
        raise RuntimeError("no C compiler found (set CC or install gcc) to build the fast MPC solver")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=cache_dir()) as work:
        source = Path(work) / f"cinempc_mpc_{key}.c"
        write_source(source)
        library = Path(work) / "lib.so"
        result = subprocess.run(
            [cc, *flags, "-fPIC", "-shared", str(source), "-o", str(library), "-lm"],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"compiling the MPC solver failed: {result.stderr[-2000:]}")
        os.replace(library, target)  # atomic: other processes see all or nothing
    return target, time.perf_counter() - start


def _cpu_identity() -> str:
    """Architecture, model and feature flags of this CPU (what ``-march=native`` compiles for)."""
    import platform

    identity = platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.split(":")[0].strip() in ("model name", "flags", "Features", "CPU part"):
                    identity += line
                if line.strip() == "":  # the first processor's block is enough
                    break
    except OSError:
        identity += platform.processor()
    return identity
