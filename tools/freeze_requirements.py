"""Write requirements.txt: every registry-installed distribution in the venv, pinned.

Why not plain `pip freeze`: the ROS 2 wheels unpack their message packages as
nested egg-info distributions (action_msgs, builtin_interfaces, ...) that do not
exist on the registry, so pinning them would break a fresh install.  Only
distributions installed from wheels (.dist-info) are real registry packages.
"""

from __future__ import annotations

import importlib.metadata as md
import sys
from pathlib import Path

HEADER = "# Every Python dependency, pinned (the one place versions live). Regenerate with: make freeze\n"


def main(out: str = "requirements.txt") -> None:
    pins = set()
    for dist in md.distributions():
        path = Path(str(getattr(dist, "_path", "")))
        name = dist.metadata["Name"]
        if path.suffix != ".dist-info" or not name or name.lower() in ("cinempc", "pip", "setuptools", "wheel"):
            continue
        if (path / "direct_url.json").is_file():  # editable or local-path installs
            continue
        pins.add(f"{name}=={dist.version}")
    Path(out).write_text(HEADER + "".join(f"{pin}\n" for pin in sorted(pins, key=str.lower)), encoding="utf-8")
    print(f"wrote {len(pins)} pins to {out}")


if __name__ == "__main__":
    main(*sys.argv[1:])
