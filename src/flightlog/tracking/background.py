"""A daemon thread that hands a tracker's records to a slow destination, off the step path.

``put`` appends to a queue (no lock, no call into the destination); the thread takes what has
gathered, at most every ``interval`` seconds, and passes it to ``send`` in the order it was
put, so that a fast run is sent in a few large batches. ``flush`` waits (up to a timeout) until
everything put before it was sent, and makes the thread stop gathering meanwhile. An error
raised by ``send`` is kept for :meth:`BackgroundSender.take_errors`; the thread goes on. After
``fork`` the child forgets what the parent had queued (it is the parent's to send).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

__all__ = ["BackgroundSender"]

_senders: weakref.WeakSet[BackgroundSender] = weakref.WeakSet()


class _Flush:
    """A mark in the queue: reached once everything put before it was sent."""

    __slots__ = ("reached",)

    def __init__(self) -> None:
        self.reached = threading.Event()


class BackgroundSender:
    """Sends what is put, in order and in batches, from one daemon thread."""

    def __init__(
        self,
        send: Callable[[list[Any]], None],
        *,
        name: str,
        interval: float = 0.2,
        around: Callable[[], AbstractContextManager[Any]] = nullcontext,
    ) -> None:
        self._send = send
        self.name = name
        self.interval = interval
        self._around = around  # entered by the thread for its whole life (e.g. HTTP bounds)
        self._items: deque[Any] = deque()
        self._wake = threading.Event()
        self._hurry = threading.Event()  # a flush waits: send what is there at once
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closing = False
        self._errors: list[BaseException] = []
        _senders.add(self)

    def put(self, item: Any) -> None:
        """Queue ``item`` to be sent (cheap: the step path calls this)."""
        self._items.append(item)
        if not self._wake.is_set():
            self._wake.set()

    def start(self) -> None:
        """Start the thread if it is not running (after ``close``, or in a forked child); a
        thread that is closing goes on instead."""
        if self._thread is not None and not self._closing:
            return
        with self._lock:
            self._closing = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def flush(self, timeout: float) -> bool:
        """Wait until everything put so far was sent; False if ``timeout`` seconds passed
        first (the rest is still sent, later)."""
        mark = _Flush()
        self._items.append(mark)
        self._hurry.set()
        self._wake.set()
        self.start()
        return mark.reached.wait(timeout)

    def close(self, timeout: float) -> bool:
        """Send what is queued (waiting at most ``timeout`` seconds), then stop the thread."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return not self._items
        flushed = self.flush(timeout)
        self._closing = True
        self._wake.set()
        thread.join(timeout if flushed else 0)
        return flushed

    def take_errors(self) -> list[BaseException]:
        """The errors ``send`` raised since the last call."""
        with self._lock:
            taken, self._errors = self._errors, []
        return taken

    def pending(self) -> int:
        """How many items wait to be sent."""
        return sum(not isinstance(item, _Flush) for item in list(self._items))

    # -- the thread ----------------------------------------------------------------------
    def _run(self) -> None:
        try:
            with self._around():
                while not self._serve():
                    pass
        finally:  # also when something unexpected ended it: start() makes a new one
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None

    def _serve(self) -> bool:
        """Send what gathered; True when the thread is to stop (closed, nothing left)."""
        self._wake.wait()
        if not self._hurry.is_set() and not self._closing:
            self._hurry.wait(self.interval)  # let a fast run gather a batch
        self._hurry.clear()
        self._wake.clear()
        self._drain()
        with self._lock:  # decided with start(), which may take the thread back
            if self._closing and not self._items:
                self._thread = None  # the next start() makes a new one
                return True
            return False

    def _drain(self) -> None:
        batch: list[Any] = []
        items = self._items
        while items:
            item = items.popleft()
            if isinstance(item, _Flush):
                self._deliver(batch)
                batch = []
                item.reached.set()
            else:
                batch.append(item)
        self._deliver(batch)

    def _deliver(self, batch: list[Any]) -> None:
        if not batch:
            return
        try:
            self._send(batch)
        except Exception as error:  # kept for the tracker to report; the thread goes on
            with self._lock:
                self._errors.append(error)

    def _forget(self) -> None:
        self._items.clear()
        self._thread = None
        self._wake = threading.Event()
        self._hurry = threading.Event()
        self._lock = threading.Lock()


def _forget_all() -> None:
    for sender in list(_senders):
        sender._forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_all)
