"""Children that die with `handoff dev`: the Linux parent-death signal, set between fork and exec.

If `handoff dev` is killed with SIGKILL it cannot stop anything, so each child asks the kernel
(prctl PR_SET_PDEATHSIG) for a signal when its parent goes. Elsewhere than Linux this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    prctl: Callable[..., int] = libc.prctl
    return prctl


# Resolved once in the parent: the child, between fork and exec, only calls it.
_PRCTL = _load_prctl()


def dies_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec_fn that makes the child receive `sig` when this process dies.

    None when unsupported, or when called off the main thread: the kernel sends the signal when
    the *thread* that forked exits, so a child started from a short-lived worker thread would be
    killed when that thread ends.
    """
    if _PRCTL is None or threading.current_thread() is not threading.main_thread():
        return None
    prctl, parent = _PRCTL, os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os.kill(os.getpid(), sig)

    return preexec


class Child:
    """One process `handoff dev` started: alive/terminate/wait_stopped/kill over `self.process`.

    `stop_signal` asks it to shut down cleanly; `escalate` is what happens when that takes too
    long, and `kill_signal` is the stop-at-once (a crash, as far as the child can tell).
    """

    stop_signal: signal.Signals = signal.SIGTERM
    kill_signal: signal.Signals = signal.SIGKILL

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        """Whether it runs; a dead child is reaped here, so it never lingers as a zombie."""
        return self.process is not None and self.process.poll() is None

    def exit_code(self) -> int | None:
        return self.process.poll() if self.process is not None else None

    def terminate(self) -> None:
        """Ask it to stop (see wait_stopped)."""
        if self.alive():
            assert self.process is not None
            self.process.send_signal(self.stop_signal)

    def wait_stopped(self, timeout: float) -> None:
        """Wait for a stop asked by terminate(); past timeout, escalate."""
        if self.process is None:
            return
        try:
            self.process.wait(max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            self.escalate(self.process)

    def escalate(self, process: subprocess.Popen[bytes]) -> None:
        process.kill()
        process.wait(5)

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(self.kill_signal)

    def stop(self, timeout: float = 10.0) -> None:
        self.terminate()
        self.wait_stopped(timeout)
