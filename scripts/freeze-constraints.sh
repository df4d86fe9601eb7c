#!/usr/bin/env bash
# Resolve the newest releases pyproject.toml allows in a scratch virtual environment and write them to
# constraints.txt, which `make install` (and so `make test`, `make demo` and CI) installs exactly.
# Run it (`make constraints`), then `make test` from a fresh clone before committing the new file.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
"$PYTHON" -m venv "$scratch/venv"
pip="$scratch/venv/bin/pip"
"$pip" install -q --upgrade pip
"$pip" install -q torch==2.13.0
"$pip" install -q -e '.[test]'  # as `make install` does (an in-tree build would leave build/ behind)
{
  echo "# Exact releases for \`make install\`: what \`scripts/freeze-constraints.sh\` resolved on $(date -u +%Y-%m-%d)"
  echo "# ($("$scratch/venv/bin/python" -c 'import platform; print("Python", platform.python_version())')). \`make install CONSTRAINTS=\` installs the newest allowed instead."
  # torch: any build of 2.13.0 (the CPU wheel is 2.13.0+cpu); the project itself is the editable install
  "$pip" freeze --all --exclude-editable | sed -E 's/^(torch==[0-9.]+)\+[a-z0-9]+$/\1/'
} > constraints.txt
echo "wrote constraints.txt ($(grep -c '==' constraints.txt) pins)"
