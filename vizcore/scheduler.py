"""Sharing one process's CPU between many users: a bounded, fair queue of long runs, and short work first.

A long run (a filter grid, a dream, a full Score-CAM, a ranking of maps) takes a turn in the
process's :class:`RunQueue`: at most ``runs_at_once`` run together, the others wait in line. The
line is fair between users: round robin (every user's first run in the line before anyone's
second), then first come, first served. A run gives way between its steps: the engine's step loops
call :func:`checkpoint`, which pauses while short work (a prediction, a Grad-CAM map, a metric)
is in flight, so those stay interactive, and ends the run (:class:`Cancelled`) once its user has
stopped it, started another in its place or left. Short work that follows an answer the user
already has (the trust metrics under a map, see :func:`follow_up`) gives way in turn to other
users' short work that has not answered yet, so a map comes before another user's measurements.

The engine never needs a queue: outside a turn (the CLI, tests, notebooks) :func:`checkpoint` and
:func:`short_work` do nothing.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from . import timeline
from .errors import VizcoreError

RUNS_AT_ONCE = 1  # long runs computing together (bench/bench_queue.py: fastest on 2 cores)
QUEUE_LENGTH = 16  # long runs waiting, at most
SHORT_FIRST_SECONDS = 10.0  # a long run gives way to short work for at most this long at one step
ANSWERS_FIRST_SECONDS = 5.0  # a follow-up gives way to other users' answers for at most this long at one step
POLL_SECONDS = 0.5  # a waiting run looks at its place (and tells its user) this often


class Cancelled(Exception):
    """The run was stopped: its user pressed Stop, started another in its place or left."""


class QueueFull(VizcoreError):
    """Every place in the line is taken."""


def _always() -> bool:
    return True


@dataclass(eq=False)
class Ticket:
    """One long run's place: whose it is, on which page, and whether it may go on."""

    owner: str  # the user (a session)
    page: str  # one run per user and page: a new one replaces it
    number: int  # arrival order
    round: int = 0  # the owner's runs already in the line when it came
    alive: Callable[[], bool] = _always  # False once the user has left
    running: bool = False
    thread: int = field(default_factory=threading.get_ident)  # the thread that queued it
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def stopped(self) -> bool:
        return self._cancelled.is_set() or not self.alive()


class RunQueue:
    """Long runs take turns, at most ``runs_at_once`` together and ``length`` waiting; short work goes first."""

    def __init__(
        self,
        runs_at_once: int = RUNS_AT_ONCE,
        length: int = QUEUE_LENGTH,
        short_first_seconds: float = SHORT_FIRST_SECONDS,
    ):
        if runs_at_once < 1 or length < 0:
            raise ValueError("a run queue runs at least one run at once and has a length of 0 or more")
        self.runs_at_once, self.length, self.short_first_seconds = runs_at_once, length, short_first_seconds
        self._changed = threading.Condition()
        self._waiting: list[Ticket] = []
        self._running: list[Ticket] = []
        self._short: Counter[int] = Counter()  # thread → short work it has in flight
        self._following: Counter[int] = Counter()  # thread → follow-ups it has in flight (short work too)
        self._measuring = threading.Lock()  # held by the follow-up that is running
        self._numbers = itertools.count()

    # --- long runs --------------------------------------------------------------------------------

    def enter(self, owner: str, page: str, alive: Callable[[], bool] = _always) -> Ticket:
        """Join the line. The user's run on the same page, if any, is cancelled (this one replaces it).

        Raises:
            QueueFull: ``length`` runs are already waiting and no turn is free.
        """
        with self._changed:
            for old in self._waiting + self._running:
                if old.owner == owner and old.page == page:
                    old.cancel()
                    self._forget(old)
            free = max(0, self.runs_at_once - len(self._running))  # a free turn needs no place in the line
            if len(self._waiting) >= self.length + free:
                raise QueueFull(
                    f"The server is busy: {len(self._waiting)} runs are already waiting for their turn, "
                    "the most it keeps. Please press Run again in a minute."
                )
            round_ = sum(other.owner == owner for other in self._waiting + self._running)
            ticket = Ticket(owner, page, next(self._numbers), round_, alive)
            self._waiting.append(ticket)
            self._changed.notify_all()
            return ticket

    def wait_turn(
        self, ticket: Ticket, on_wait: Callable[[int], None] | None = None, poll: float = POLL_SECONDS
    ) -> None:
        """Block until ``ticket`` may run. While it waits, ``on_wait(runs ahead)`` is called every
        ``poll`` seconds (outside the lock; what it raises leaves the line).

        Raises:
            Cancelled: the run was cancelled, or its user left, while it waited.
        """
        try:
            while True:
                with self._changed:
                    if ticket.stopped:
                        raise Cancelled()
                    if self._starts(ticket):
                        self._waiting.remove(ticket)
                        self._running.append(ticket)
                        ticket.running = True
                        return
                    ahead = self.ahead(ticket)
                if on_wait is not None:
                    on_wait(ahead)
                with self._changed:
                    if not self._starts(ticket):
                        self._changed.wait(poll)
        except BaseException:
            self.leave(ticket)
            raise

    def leave(self, ticket: Ticket) -> None:
        """Give up the place or the turn (a finished, stopped or failed run)."""
        with self._changed:
            self._forget(ticket)

    def ahead(self, ticket: Ticket) -> int:
        """How many runs must end or start before ``ticket`` starts (0: it runs, or is next to)."""
        with self._changed:
            if ticket.running:
                return 0
            order = self._order()
            if ticket not in order:
                return 0
            busy = max(0, len(self._running) - self.runs_at_once + 1)
            return order.index(ticket) + busy

    @contextlib.contextmanager
    def turn(
        self, owner: str, page: str, alive: Callable[[], bool] = _always, on_wait: Callable[[int], None] | None = None
    ) -> Iterator[Ticket]:
        """Wait for a turn, run the block as this thread's current run, then leave the line.

        Raises:
            QueueFull: before waiting; Cancelled: while waiting or (from :func:`checkpoint`) running.
        """
        ticket = self.enter(owner, page, alive)
        try:
            with timeline.span("waiting for a turn", page=page):
                self.wait_turn(ticket, on_wait)
            timeline.mark("turn", page=page)
            previous = getattr(_CURRENT, "turn", None)
            _CURRENT.turn = (self, ticket)
            try:
                yield ticket
            finally:
                _CURRENT.turn = previous
        finally:
            self.leave(ticket)

    def checkpoint(self, ticket: Ticket) -> None:
        """Between two steps of a running run: wait while short work is in flight (at most
        ``short_first_seconds``), then go on, or raise Cancelled if the run was stopped."""
        if ticket.stopped:
            raise Cancelled()
        start = time.monotonic()
        deadline = start + self.short_first_seconds
        with self._changed:
            while self._short_in_flight() and not ticket.stopped and time.monotonic() < deadline:
                self._changed.wait(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))
        if time.monotonic() - start > 0.05:
            timeline.mark("paused for short work", seconds=round(time.monotonic() - start, 3))
        if ticket.stopped:
            raise Cancelled()

    # --- short work -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def short(self) -> Iterator[None]:
        """Around short work: running long runs pause at their next step until it is done."""
        with self._marked(self._short):
            yield

    @contextlib.contextmanager
    def follow_up(self) -> Iterator[None]:
        """Around short work that follows an answer already shown (a map's metrics): long runs still
        give way to it, it gives way to other threads' short work that is not a follow-up (at
        :meth:`give_way`), and follow-ups run one at a time (in turn, each as fast as alone: two
        cores gain nothing from more at once, and each user's measurements come in order)."""
        with self.short(), self._marked(self._following) as outer:
            with self._measuring if not outer else contextlib.nullcontext():  # one at a time
                yield

    @contextlib.contextmanager
    def _marked(self, marks: Counter[int]) -> Iterator[int]:
        """Count this thread in ``marks`` for the block; yields the marks it had before."""
        thread = threading.get_ident()
        with self._changed:
            before = marks[thread]
            marks[thread] += 1
        try:
            yield before
        finally:
            with self._changed:
                marks[thread] -= 1
                if not marks[thread]:
                    del marks[thread]
                self._changed.notify_all()

    def give_way(self, seconds: float = ANSWERS_FIRST_SECONDS) -> None:
        """Between two batches of a follow-up: wait while other threads' answers are in flight (short
        work that is not a follow-up), at most ``seconds``."""
        thread = threading.get_ident()
        deadline = time.monotonic() + seconds
        with self._changed:
            while self._answers_in_flight(thread) and time.monotonic() < deadline:
                self._changed.wait(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))

    def answers_in_flight(self) -> int:
        """Threads with short work in flight that is not a follow-up (nor a queued run's script)."""
        with self._changed:
            return self._answers_in_flight(None)

    # --- what is going on -------------------------------------------------------------------------

    def waiting(self) -> int:
        with self._changed:
            return len(self._waiting)

    def running(self) -> int:
        with self._changed:
            return len(self._running)

    def short_in_flight(self) -> int:
        """Threads with short work in flight, not counting those whose run is in the line or running
        (a page's whole script may be short work; once it queues a long run it holds nobody up)."""
        with self._changed:
            return self._short_in_flight()

    # --- inside the lock --------------------------------------------------------------------------

    def _order(self) -> list[Ticket]:
        """The waiting runs in the order they will start: round by round (a user's first run in the
        line, then each user's second...), each round in order of arrival. A user who queues runs
        on several pages does not hold the others up."""
        return sorted(self._waiting, key=lambda ticket: (ticket.round, ticket.number))

    def _starts(self, ticket: Ticket) -> bool:
        if len(self._running) >= self.runs_at_once:
            return False
        order = [waiting for waiting in self._order() if not waiting.stopped]  # the left do not hold the line
        return bool(order) and order[0] is ticket

    def _short_threads(self) -> list[int]:
        """Threads with short work in flight, but for those whose long run is in the line or running."""
        in_line = {ticket.thread for ticket in self._waiting + self._running}
        return [thread for thread in self._short if thread not in in_line]

    def _short_in_flight(self) -> int:
        return len(self._short_threads())

    def _answers_in_flight(self, besides: int | None) -> int:
        return sum(1 for thread in self._short_threads() if thread != besides and not self._following[thread])

    def _forget(self, ticket: Ticket) -> None:
        for line in (self._waiting, self._running):
            if ticket in line:
                line.remove(ticket)
        ticket.running = False
        self._changed.notify_all()


_CURRENT = threading.local()  # .turn: (queue, ticket) of the run this thread runs; .following: a follow-up's queue
_PROCESS_QUEUE = RunQueue()


def process_queue() -> RunQueue:
    """The queue every session of this process shares."""
    return _PROCESS_QUEUE


def configure(runs_at_once: int, length: int) -> RunQueue:
    """Set the process queue's size (the app does, from its limits); the runs in it go on."""
    _PROCESS_QUEUE.runs_at_once, _PROCESS_QUEUE.length = runs_at_once, length
    with _PROCESS_QUEUE._changed:
        _PROCESS_QUEUE._changed.notify_all()
    return _PROCESS_QUEUE


def checkpoint() -> None:
    """Called by the engine between steps: in a long run's turn, gives way to short work and stops a
    cancelled run; in a follow-up, gives way to other users' answers. Does nothing otherwise."""
    turn = getattr(_CURRENT, "turn", None)
    if turn is not None:
        turn[0].checkpoint(turn[1])
        return
    queue = getattr(_CURRENT, "following", None)
    if queue is not None:
        queue.give_way()


@contextlib.contextmanager
def short_work(queue: RunQueue | None = None) -> Iterator[None]:
    """Mark short work (a prediction, a CAM map, a page's whole script) so that long runs give way
    to it. Inside a long run's own turn it is part of that run and marks nothing; a thread that
    queues a long run inside it stops counting as short while that run is in the line."""
    if getattr(_CURRENT, "turn", None) is not None:
        yield
        return
    with (queue or _PROCESS_QUEUE).short():
        yield


@contextlib.contextmanager
def follow_up(queue: RunQueue | None = None) -> Iterator[None]:
    """Mark work that follows an answer the user already has (the trust metrics under a map): long
    runs give way to it, and at each :func:`checkpoint` it gives way to other users' short work that
    has not answered yet. Inside a long run's turn it is part of that run and marks nothing."""
    if getattr(_CURRENT, "turn", None) is not None:
        yield
        return
    queue = queue or _PROCESS_QUEUE
    previous = getattr(_CURRENT, "following", None)
    _CURRENT.following = queue
    try:
        with queue.follow_up():
            yield
    finally:
        _CURRENT.following = previous
