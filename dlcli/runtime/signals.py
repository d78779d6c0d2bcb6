"""Ctrl-C and SIGTERM, ended cleanly: what ``kill``, ``timeout``, batch schedulers and Dask send
to stop a process is handled like Ctrl-C (status ``interrupted``, everything written so far
kept) with exit code 143 instead of 130.

While the training loop runs its steps (:func:`deferred`), the first signal only asks it to
stop: the loop finishes the iteration in progress, so the state it saves is whole, and a resumed
run continues to the same bits. A second signal interrupts at once. Outside the loop (loading
data, writing results) a signal interrupts at once.

The command line installs the handlers for the whole process (:func:`install`); elsewhere
:func:`deferred` installs them for the loop's duration, in the main thread only (Python
delivers signals there), and puts back what was there before.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

EXIT_SIGINT, EXIT_SIGTERM = 130, 143  # 128 + the signal's number, as shells report them


class Terminated(KeyboardInterrupt):
    """SIGTERM, as an exception: a KeyboardInterrupt, so every place that ends cleanly on
    Ctrl-C ends cleanly on SIGTERM too."""


_received: list[int] = []  # every signal handled so far, in order
_pending: list[int] = []  # signals the loop has not acted on yet (deferred mode)
_deferring = [False]


def _raise(signum: int) -> None:
    raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


def _handler(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    if _deferring[0] and not _pending:
        _pending.append(signum)  # the loop stops after the iteration in progress
        return
    _raise(signum)


def forget() -> None:
    """Start a command with no signal on record: its exit code (130 or 143) comes from the
    signals it received, not from an earlier command's in the same process."""
    _received.clear()
    _pending.clear()


def install() -> None:
    """Handle SIGINT and SIGTERM from now on (main thread only)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _handler)
        signal.signal(signal.SIGTERM, _handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Within the block, the first signal waits for :func:`pending` to be read."""
    main = threading.current_thread() is threading.main_thread()
    before: dict[signal.Signals, Any] = {}
    if main:
        for sig in (signal.SIGINT, signal.SIGTERM):
            current = signal.getsignal(sig)
            if current is not _handler and current in (signal.default_int_handler,
                                                       signal.SIG_DFL):
                before[sig] = current
                signal.signal(sig, _handler)
    _pending.clear()
    _deferring[0] = main
    try:
        yield
    finally:
        _deferring[0] = False
        for sig, old in before.items():
            signal.signal(sig, old)


def pending() -> int | None:
    """The signal that asked the loop to stop, or None."""
    return _pending[0] if _pending else None


def name(signum: int | None) -> str:
    return "SIGTERM" if signum == signal.SIGTERM else "the user (Ctrl-C)"


def interrupt_message(exc: BaseException | int | None) -> str:
    term = isinstance(exc, Terminated) or exc == signal.SIGTERM
    return "interrupted by SIGTERM" if term else "interrupted by the user (Ctrl-C)"


def interrupt_exit_code() -> int:
    """143 when the last signal was SIGTERM, else 130 (Ctrl-C)."""
    return EXIT_SIGTERM if _received and _received[-1] == signal.SIGTERM else EXIT_SIGINT
