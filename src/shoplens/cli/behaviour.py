"""`shoplens events import` and `shoplens report trends`: shopper behaviour from the shell."""

from __future__ import annotations
