"""The soak benchmark's chart: requests/s and the server's RSS over time, with the fault windows marked."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure


def plot(payload: dict, path: Path) -> None:
    """Two panels sharing the time axis (s from the start of the hold): answers/s, and RSS in MiB."""
    line = payload["timeline"]
    fig = Figure(figsize=(11, 5.5), dpi=120)
    ax1, ax2 = fig.subplots(2, 1, sharex=True)
    ax1.plot(line["t_s"], line["rps"], lw=0.8, color="tab:blue")
    ax1.set(ylabel="answers / s", title=_title(payload))
    t, rss = zip(*((t, r) for t, r in zip(line["t_s"], line["rss_mib"], strict=True) if r), strict=True)
    ax2.plot(t, rss, lw=1.0, color="tab:red")
    ax2.set(xlabel="seconds from the start of the hold", ylabel="server RSS (MiB)")
    hold = payload["duration_s"]
    for ax in (ax1, ax2):
        ax.axvline(hold, color="grey", ls="--", lw=0.8)
        ax.grid(alpha=0.3)
        for f in line["faults"]:
            ax.axvspan(f["start_s"], f["end_s"], color="tab:orange", alpha=0.2)
    top = ax1.get_ylim()[1]
    for f in line["faults"]:
        ax1.text(f["start_s"], top * 0.92, f["name"], fontsize=8, rotation=90, va="top")
    fig.tight_layout()
    fig.savefig(path)


def _title(payload: dict) -> str:
    """The run in one line: requests, 5xx, RSS growth and the faults' outcome."""
    faults = ", ".join(
        f"{f['name']}: {'skipped' if 'skipped' in f else ('ok' if f['recovered'] else 'NOT recovered')}"
        for f in payload["faults"]
    )
    return (
        f"{payload['requests']:,} requests in {payload['duration_s']:.0f} s at {payload['saturation']['clients_held']} "
        f"clients, 5xx {payload['five_xx']}, RSS growth {payload['rss_growth_pct']}% — {faults}"
    )
