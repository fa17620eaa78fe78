"""Children that die with `handoff dev`: the Linux parent-death signal, set between fork and exec.

If `handoff dev` is killed with SIGKILL it cannot stop anything, so each child asks the kernel
(prctl PR_SET_PDEATHSIG) for a signal when its parent goes. Elsewhere than Linux this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
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
