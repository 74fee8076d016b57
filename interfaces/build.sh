#!/bin/sh
# Build the interface packages with plain cmake and install them into a Python venv (no colcon).
# usage: interfaces/build.sh VENV BUILD_DIR PACKAGE...   (packages in dependency order)
# Installed into the venv itself, the generated Python modules land in its site-packages and the
# libraries in VENV/lib, which the ROS wheels already put on the library path: nothing to source.
set -eu
venv=$(cd "$1" && pwd); build=$2; shift 2
mkdir -p "$build"
here=$(cd "$(dirname "$0")" && pwd)
for package in "$@"; do
  start=$(date +%s)
  cmake -S "$here/$package" -B "$build/$package" -DCMAKE_INSTALL_PREFIX="$venv" -DCMAKE_PREFIX_PATH="$venv" \
        -DPython3_EXECUTABLE="$venv/bin/python" -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=Release \
        -Wno-dev > "$build/$package.log" 2>&1 || { cat "$build/$package.log"; exit 1; }
  cmake --build "$build/$package" -j "$(nproc)" >> "$build/$package.log" 2>&1 || { tail -50 "$build/$package.log"; exit 1; }
  cmake --install "$build/$package" >> "$build/$package.log" 2>&1 || { tail -20 "$build/$package.log"; exit 1; }
  echo "interfaces: $package built and installed into $venv in $(( $(date +%s) - start )) s"
done
