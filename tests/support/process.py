"""Code run in a fresh interpreter, as a user's process would start."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap


def run_python(code: str) -> str:
    """Run code in a fresh interpreter with this one's import path; its stdout (it must succeed)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
