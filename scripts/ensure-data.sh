#!/usr/bin/env bash
# Make sure Fashion-MNIST's official IDX files are on this machine (Debian package dataset-fashion-mnist).
# Usage: scripts/ensure-data.sh [--required]   (--required: exit 2 when the data cannot be had)
set -euo pipefail
dir=/usr/share/datasets/fashion-mnist
have() { [ -n "${SHOPLENS_DATA_DIR:-}" ] && [ -f "$SHOPLENS_DATA_DIR/t10k-labels-idx1-ubyte.gz" ] || [ -f "$dir/t10k-labels-idx1-ubyte.gz" ]; }
if have; then exit 0; fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Fashion-MNIST (apt-get install -y dataset-fashion-mnist)…"
  apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null; }
fi
if have; then exit 0; fi
echo "Fashion-MNIST is not installed. Run: sudo apt-get install -y dataset-fashion-mnist" >&2
echo "(or set SHOPLENS_DATA_DIR to a folder holding the four official *-ubyte.gz files)" >&2
[ "${1:-}" = "--required" ] && exit 2 || exit 0
