"""Hard-link byte-identical files under a folder (a venv): one copy on disk, every path still there.

Why: wheels cannot carry symlinks, so a library ships each soname as a full copy (casadi's
libcasadi-tp-openblas.so, .so.0, .so.0.3; the ROS wheels' libfastrtps.so*, and one libcrypto per ROS wheel):
about 200 MB of the flight-only venv.  A hard link reads exactly like the copy it replaces.
Usage: python tools/hardlink_duplicates.py FOLDER [MIN_BYTES]
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections import defaultdict
from pathlib import Path


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def hardlink_duplicates(folder: Path, min_bytes: int = 65536) -> int:
    """Replace each duplicate (same size, mode and SHA-256) by a hard link to the first; returns bytes freed."""
    by_size: dict[tuple[int, int], list[Path]] = defaultdict(list)
    seen_inodes: set[tuple[int, int]] = set()
    for path in sorted(folder.rglob("*")):
        stat = path.lstat()
        if path.is_symlink() or not path.is_file() or stat.st_size < min_bytes:
            continue
        if (stat.st_dev, stat.st_ino) in seen_inodes:
            continue  # already a link of a file listed
        seen_inodes.add((stat.st_dev, stat.st_ino))
        by_size[(stat.st_size, stat.st_mode)].append(path)
    freed = 0
    for (size, _), paths in by_size.items():
        if len(paths) < 2:
            continue
        by_digest: dict[str, list[Path]] = defaultdict(list)
        for path in paths:
            by_digest[_digest(path)].append(path)
        for first, *copies in by_digest.values():
            for copy in copies:
                temporary = copy.with_name(copy.name + ".hardlink-tmp")
                os.link(first, temporary)
                os.replace(temporary, copy)
                freed += size
    return freed


if __name__ == "__main__":
    freed = hardlink_duplicates(Path(sys.argv[1]), *(int(a) for a in sys.argv[2:]))
    print(f"hardlink_duplicates: {freed / 1e6:.0f} MB freed under {sys.argv[1]}")
