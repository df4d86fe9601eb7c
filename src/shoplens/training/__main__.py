"""`python -m shoplens.training [options]`: `shoplens train`, e.g. under `torchrun --nproc-per-node N`."""

import sys

from shoplens.cli import app
from shoplens.training.distributed import leave, under_torchrun

try:
    app(["train", *sys.argv[1:]], prog_name="python -m shoplens.training")
except SystemExit as done:
    if not under_torchrun():
        raise
    if isinstance(done.code, str):
        print(done.code, file=sys.stderr)
    leave(done.code if isinstance(done.code, int) else int(done.code is not None))
