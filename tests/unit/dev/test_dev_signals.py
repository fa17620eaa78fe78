"""`handoff dev`'s signal handling: one stop per request, a repeat within the grace moment is
the same request (uv run forwards the terminal's Ctrl-C once more), a later one kills at once."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from handoff_dev import cli


class FakeStack:
    def __init__(self) -> None:
        self.killed = 0

    def kill(self) -> None:
        self.killed += 1

    def anything_alive(self) -> bool:
        return False


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    def exit_now(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr(os, "_exit", exit_now)  # the one cli calls
    return [100.0]


def test_while_starting_the_first_signal_abandons_the_start_and_repeats_do_not(
    clock: list[float],
) -> None:
    stack = FakeStack()
    signals = cli._StopSignals(stack, clock=lambda: clock[0])
    with pytest.raises(cli._StopRequested):
        signals.handle(signal.SIGINT, None)
    clock[0] += 0.3
    signals.handle(signal.SIGINT, None)  # uv run's copy: no second exception mid-cleanup
    assert stack.killed == 0


async def test_while_running_a_signal_sets_the_stop_event_and_a_late_one_kills(
    clock: list[float],
) -> None:
    stack, stop = FakeStack(), asyncio.Event()
    signals = cli._StopSignals(stack, clock=lambda: clock[0])
    signals.attach(asyncio.get_running_loop(), stop)
    signals.handle(signal.SIGTERM, None)
    await asyncio.sleep(0)
    assert stop.is_set()
    clock[0] += 0.5
    signals.handle(signal.SIGINT, None)  # within the grace moment: the same request
    assert stack.killed == 0
    clock[0] += 1.0
    with pytest.raises(SystemExit) as exited:
        signals.handle(signal.SIGINT, None)
    assert stack.killed == 1
    assert exited.value.code == 130


def test_the_demo_console_never_prints_an_email_address() -> None:
    from handoff_dev.notify_demo import masked

    assert masked("kenji.sato@example.co.jp") == "k***@example.co.jp"
    assert "kenji" not in masked("kenji.sato@example.co.jp")
    assert masked("not an address") == "***"
