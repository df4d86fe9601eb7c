"""`python -m shoplens.training [options]`: `shoplens train`, e.g. under `torchrun --nproc-per-node N`."""

import sys

from shoplens.cli import app

app(["train", *sys.argv[1:]], prog_name="python -m shoplens.training")
