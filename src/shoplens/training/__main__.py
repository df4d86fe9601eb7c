"""`python -m shoplens.training [options]`: `shoplens train`, e.g. under `torchrun --nproc-per-node N`."""

import sys

from shoplens.cli import app
from shoplens.training.distributed import leave, under_torchrun

try:
    app(["train", *sys.argv[1:]], prog_name="python -m shoplens.training")
except SystemExit as done:
    code = done.code
else:
    code = 0
if not under_torchrun():
    sys.exit(code)
if isinstance(code, str):  # what sys.exit would have printed
    print(code, file=sys.stderr)
leave(code if isinstance(code, int) else int(code is not None))  # a rank skips finalization (see leave)
