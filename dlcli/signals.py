"""SIGTERM handled like Ctrl-C: what ``kill``, ``timeout``, batch schedulers and Dask send to
stop a process becomes an exception the training loop and a comparison already know how to end
cleanly on (status ``interrupted``, everything written so far kept), and exit code 143.

Only the command line installs the handler (:func:`install`); a script using :mod:`dlcli.api`
keeps its own signal handling.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

EXIT_SIGINT, EXIT_SIGTERM = 130, 143  # 128 + the signal's number, as shells report them


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when SIGTERM arrives; a KeyboardInterrupt, so every place that
    ends cleanly on Ctrl-C ends cleanly on SIGTERM too."""


_received: list[int] = []


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    if _received:  # a second SIGTERM while results are being written: let them finish
        return
    _received.append(signum)
    raise Terminated


def install() -> None:
    """Handle SIGTERM from now on (main thread only: Python delivers signals there)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def interrupt_message(exc: BaseException) -> str:
    return ("interrupted by SIGTERM" if isinstance(exc, Terminated)
            else "interrupted by the user (Ctrl-C)")


def interrupt_exit_code() -> int:
    """143 after SIGTERM, else 130 (Ctrl-C)."""
    return EXIT_SIGTERM if _received else EXIT_SIGINT
