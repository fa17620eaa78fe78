"""The scale-out bench's memory reading: a process's peak RSS and its children, from /proc."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from bench import scaleout

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

# A parent that starts a child; the child holds 80 MB resident, then frees it and waits.
PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", '''
import sys, time
block = bytearray(80 * 1024 * 1024)
for i in range(0, len(block), 4096):
    block[i] = 1
del block
print("freed", flush=True)
time.sleep(60)
'''], stdout=sys.stdout)
time.sleep(60)
"""


@pytest.fixture
def parent() -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "freed"
        yield proc
    finally:
        proc.kill()
        for pid in scaleout.process_tree(proc.pid)[1:]:
            os.kill(pid, 9)
        proc.wait(5)


def test_the_tree_holds_the_child_and_its_peak_outlives_the_memory_it_freed(
    parent: subprocess.Popen[str],
) -> None:
    tree = scaleout.process_tree(parent.pid)
    assert tree[0] == parent.pid and len(tree) == 2
    child = tree[1]
    assert scaleout.peak_rss_mb(child) >= 80  # freed already: VmRSS would not show it
    assert scaleout.peak_rss_mb(parent.pid) < 80


def test_cpu_time_grows_while_a_process_works() -> None:
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        first, deadline = scaleout.cpu_seconds([busy.pid]), time.monotonic() + 10
        while scaleout.cpu_seconds([busy.pid]) == first and time.monotonic() < deadline:
            time.sleep(0.02)
        assert scaleout.cpu_seconds([busy.pid]) > first
    finally:
        busy.kill()
        busy.wait(5)
