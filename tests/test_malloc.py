"""glibc's thresholds pinned for the server: freed large blocks go back to the system instead of staying in RSS."""

from __future__ import annotations

import json

import pytest

from shoplens.malloc import heap_free_bytes
from tests.support.process import run_python

pytestmark = pytest.mark.skipif(heap_free_bytes() is None, reason="glibc only")

# A grown array freed (as the duplicate check's views are on every product), then blocks just below its size
# made and freed: with the sliding threshold they come from the heap and stay there, free but resident.
CHURN = """
import json
from shoplens.malloc import heap_free_bytes, pin_thresholds
pinned = pin_thresholds({kib})
big = bytearray(8 << 20)
del big
blocks = [bytearray(1 << 20) for _ in range(6)]
del blocks
print(json.dumps({{"pinned": pinned, "free_mib": heap_free_bytes() / 2**20}}))
"""


def _churn(kib: int) -> dict:
    """Free heap memory after the churn, in a fresh interpreter (the thresholds are per process)."""
    return json.loads(run_python(CHURN.format(kib=kib)).strip().splitlines()[-1])


def test_pinned_thresholds_return_freed_blocks() -> None:
    pinned, sliding = _churn(256), _churn(0)
    assert pinned["pinned"] and not sliding["pinned"]
    assert sliding["free_mib"] > 4  # the case the setting is for: 6 MiB freed and kept
    assert pinned["free_mib"] < 1


class _Stop(Exception):
    pass


def test_serve_pins_them_before_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    from shoplens.api import server
    from shoplens.config import Settings

    calls: list[int] = []
    monkeypatch.setattr(server, "pin_thresholds", calls.append)
    monkeypatch.setattr(server, "create_app", lambda *a, **k: (_ for _ in ()).throw(_Stop()))
    with pytest.raises(_Stop):
        server.serve(Settings())
    assert calls == [256]
