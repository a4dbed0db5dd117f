"""Ctrl-C held back while an action that is not one transaction runs."""

from __future__ import annotations

import signal
import threading
from typing import Any


class HeldInterrupt:
    """Ctrl-C held back while a retention action runs: it is not one
    transaction (DETACH ... CONCURRENTLY commits on its own, then DROP), and
    interrupted in between it would leave a partition pending detach or
    detached and not dropped. The interrupt is raised once the action is
    over, or at once while the action still waits for its first lock (then
    nothing of it was done). Creations are single transactions: Ctrl-C rolls
    them back, so they are not held. Only the main thread can handle signals."""

    def __init__(self, active: bool) -> None:
        self.active = active and threading.current_thread() is threading.main_thread()
        self.pending = False
        self._previous: Any = None

    def __enter__(self) -> HeldInterrupt:
        if self.active:
            self._previous = signal.signal(signal.SIGINT, self._note)
        return self

    def _note(self, signum: int, frame: Any) -> None:
        self.pending = True

    def __exit__(self, *exc: object) -> None:
        if self.active:
            signal.signal(signal.SIGINT, self._previous)
