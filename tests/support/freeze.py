"""Freeze a real server for a while (SIGSTOP), as a hung host or a stalled process would be."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path


def process_tree(pid: int) -> list[int]:
    """pid and its children (a postmaster's backends and helpers), parent first."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == pid:
            children.append(int(entry.name))
    return [pid, *children]


@contextmanager
def frozen(pids: Sequence[int]) -> Iterator[None]:
    """Stop the processes for the block (parent first, so it starts no new ones), then
    continue them (children first), whatever the block raised."""
    stopped: list[int] = []
    try:
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        yield
    finally:
        for pid in reversed(stopped):
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
