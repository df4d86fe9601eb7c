"""`shoplens ads …`: campaigns and their reports from the shell."""

from __future__ import annotations
