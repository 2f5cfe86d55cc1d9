"""vizcore.scheduler: long runs take turns fairly, short work goes first, stopped runs end; vizcore.limits."""
from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from vizcore import RequestError, cam, filters, limits, scheduler
from vizcore.scheduler import Cancelled, QueueFull, RunQueue

ROOT = Path(__file__).resolve().parent.parent


def started(queue: RunQueue, owner: str, page: str = "filters") -> scheduler.Ticket:
    ticket = queue.enter(owner, page)
    queue.wait_turn(ticket)
    return ticket


def started_elsewhere(queue: RunQueue, owner: str, page: str = "filters") -> scheduler.Ticket:
    """A run queued and started from its own thread, as a user's script would."""
    holder: list = []
    thread = threading.Thread(target=lambda: holder.append(started(queue, owner, page)), daemon=True)
    thread.start()
    thread.join(5)
    return holder[0]


def waiter(queue: RunQueue, ticket, log: list, name: str) -> threading.Thread:
    """A thread that waits for ``ticket``'s turn, logs ``name`` (or what stopped it) and leaves."""
    def wait() -> None:
        try:
            queue.wait_turn(ticket, poll=0.01)
            log.append(name)
            queue.leave(ticket)
        except Cancelled:
            log.append(f"{name} cancelled")
    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


def test_one_run_at_a_time_in_order_of_arrival():
    queue = RunQueue(runs_at_once=1, length=4)
    first = started(queue, "ann")
    second, third = queue.enter("bob", "filters"), queue.enter("cem", "dream")
    assert (queue.ahead(second), queue.ahead(third)) == (1, 2)  # the running run, then the line
    log: list = []
    threads = [waiter(queue, third, log, "cem"), waiter(queue, second, log, "bob")]
    time.sleep(0.1)
    assert log == [] and queue.waiting() == 2  # nothing starts while the first runs
    queue.leave(first)
    for thread in threads:
        thread.join(5)
    assert log == ["bob", "cem"]


def test_the_line_is_fair_between_users():
    """Ann's second run came before Bob's first, but Bob goes first: Ann already has a run going."""
    queue = RunQueue(runs_at_once=1, length=4)
    first = started(queue, "ann", "filters")
    ann_again, bob = queue.enter("ann", "dream"), queue.enter("bob", "filters")
    assert queue.ahead(bob) == 1 and queue.ahead(ann_again) == 2
    log: list = []
    threads = [waiter(queue, ann_again, log, "ann"), waiter(queue, bob, log, "bob")]
    queue.leave(first)
    for thread in threads:
        thread.join(5)
    assert log == ["bob", "ann"]


def test_two_at_once_when_sized_so():
    queue = RunQueue(runs_at_once=2, length=4)
    started(queue, "ann")
    second = queue.enter("bob", "filters")
    queue.wait_turn(second, poll=0.01)  # returns at once: a second slot is free
    assert queue.running() == 2 and queue.ahead(queue.enter("cem", "filters")) == 1


def test_a_full_queue_refuses_with_a_message():
    queue = RunQueue(runs_at_once=1, length=2)
    started(queue, "ann")
    queue.enter("bob", "filters")
    queue.enter("cem", "filters")
    with pytest.raises(QueueFull, match="2 runs are already waiting"):
        queue.enter("dan", "filters")
    assert queue.waiting() == 2


def test_cancelling_a_queued_run_ends_its_wait_and_frees_its_place():
    queue = RunQueue(runs_at_once=1, length=4)
    started(queue, "ann")
    queued = queue.enter("bob", "filters")
    later = queue.enter("cem", "filters")
    log: list = []
    thread = waiter(queue, queued, log, "bob")
    queued.cancel()
    thread.join(5)
    assert log == ["bob cancelled"] and queue.waiting() == 1 and queue.ahead(later) == 1


def test_a_user_who_left_holds_no_place():
    queue = RunQueue(runs_at_once=1, length=4)
    first = started(queue, "ann")
    present = {"bob": True}
    gone = queue.enter("bob", "filters", alive=lambda: present["bob"])
    log: list = []
    thread = waiter(queue, gone, log, "bob")
    present["bob"] = False  # the tab closed while the run waited
    thread.join(5)
    assert log == ["bob cancelled"] and queue.waiting() == 0
    with pytest.raises(Cancelled):
        queue.checkpoint(queue.enter("ann", "filters", alive=lambda: False))  # a run's next step ends it, too
    assert first.stopped  # ann's new run on the same page replaced (cancelled) her first


def test_a_second_run_on_the_same_page_replaces_the_first():
    queue = RunQueue(runs_at_once=1, length=4)
    first = started(queue, "ann", "dream")
    other_page = queue.enter("ann", "filters")
    again = queue.enter("ann", "dream")
    assert first.stopped and not other_page.stopped and queue.running() == 0
    with pytest.raises(Cancelled):
        queue.checkpoint(first)
    assert queue.ahead(other_page) == 0 and queue.ahead(again) == 1


def test_running_runs_give_way_to_short_work_between_steps():
    queue = RunQueue(runs_at_once=1, length=4, short_first_seconds=5.0)
    ticket = started(queue, "ann")
    steps: list[float] = []

    def long_run() -> None:
        for _ in range(400):
            queue.checkpoint(ticket)
            steps.append(time.monotonic())
            time.sleep(0.001)

    marked, done = threading.Event(), threading.Event()

    def short_request() -> None:  # another user's, in its own thread
        with queue.short():
            marked.set()
            done.wait(5)

    request = threading.Thread(target=short_request, daemon=True)
    request.start()
    marked.wait(5)
    runner = threading.Thread(target=long_run, daemon=True)
    runner.start()
    time.sleep(0.3)
    assert steps == []  # paused before its first step while the short request runs
    released = time.monotonic()
    done.set()
    request.join(5)
    runner.join(10)
    assert len(steps) == 400 and steps[0] >= released


def test_a_script_that_queues_a_long_run_stops_counting_as_short():
    """A page's whole script is short work; once it waits for (or runs) a long run, it holds nobody up."""
    queue = RunQueue(runs_at_once=1, length=4, short_first_seconds=30.0)
    running = started_elsewhere(queue, "ann")
    entered = threading.Event()

    def page_script() -> None:
        with scheduler.short_work(queue):
            ticket = queue.enter("bob", "dream")
            entered.set()
            with contextlib.suppress(Cancelled):
                queue.wait_turn(ticket, poll=0.01)

    script = threading.Thread(target=page_script, daemon=True)
    with scheduler.short_work(queue):
        script.start()
        entered.wait(5)
        assert queue.short_in_flight() == 1  # this thread's, not bob's waiting script
    began = time.monotonic()
    queue.checkpoint(running)  # does not wait for bob
    assert time.monotonic() - began < 1.0
    queue.leave(running)
    script.join(5)
    assert not script.is_alive()


def test_short_work_cannot_stall_a_long_run_forever():
    queue = RunQueue(runs_at_once=1, length=4, short_first_seconds=0.2)
    ticket = started_elsewhere(queue, "ann")
    with queue.short():
        began = time.monotonic()
        queue.checkpoint(ticket)
        assert 0.15 < time.monotonic() - began < 2.0


def test_the_engine_stops_a_cancelled_run_at_its_next_step(tiny_model):
    """A classic run in a turn: cancelled after its second frame, it ends before its third."""
    queue = RunQueue(runs_at_once=1, length=4)
    layer = tiny_model.conv_layers()[0].name
    frames = []
    with pytest.raises(Cancelled):
        with queue.turn("ann", "filters") as ticket:
            for frame in filters.visualize(tiny_model, layer, [0, 1], steps=6, size=66):
                frames.append(frame)
                if len(frames) == 2:
                    ticket.cancel()
    assert [frame.step for frame in frames] == [1, 2] and queue.running() == 0
    outside = list(filters.visualize(tiny_model, layer, [0, 1], steps=3, size=66))  # no turn: checkpoints do nothing
    assert outside[-1].step == 3 and np.isfinite(outside[-1].activations).all()


def test_short_work_inside_a_run_marks_nothing():
    queue = RunQueue(runs_at_once=1, length=4)
    with queue.turn("ann", "filters"):
        with scheduler.short_work(queue):
            assert queue.short_in_flight() == 0
    with scheduler.short_work(queue):
        assert queue.short_in_flight() == 1



def another_users_answer(queue: RunQueue, seconds: float) -> threading.Thread:
    """Another user's short work (a map being made), in its own thread, for ``seconds``."""
    marked = threading.Event()

    def answer() -> None:
        with scheduler.short_work(queue):
            marked.set()
            time.sleep(seconds)
    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    marked.wait(5)
    return thread


def test_a_follow_up_gives_way_to_another_users_answer_between_its_batches():
    """The metrics under one user's map wait, at their next checkpoint, for another user's map."""
    queue = RunQueue(runs_at_once=1, length=4)
    with scheduler.follow_up(queue):
        answer = another_users_answer(queue, 0.4)
        began = time.monotonic()
        scheduler.checkpoint()
        waited = time.monotonic() - began
        answer.join(5)
    assert 0.25 < waited < 3.0  # until the map was done, not the cap
    answer = another_users_answer(queue, 0.4)
    began = time.monotonic()
    scheduler.checkpoint()  # the same step outside a follow-up (a CLI, a notebook) waits for nobody
    assert time.monotonic() - began < 0.1
    answer.join(5)


def test_follow_ups_run_one_at_a_time_without_giving_way_to_each_other():
    queue = RunQueue(runs_at_once=1, length=4)
    log: list[str] = []

    def measure(name: str) -> None:
        with scheduler.follow_up(queue):
            log.append(f"{name} starts")
            scheduler.checkpoint()  # the other, waiting for its turn to measure, is no answer to wait for
            time.sleep(0.2)
            log.append(f"{name} ends")
    threads = [threading.Thread(target=measure, args=(name,), daemon=True) for name in ("ann", "bob")]
    began = time.monotonic()
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join(5)
    assert log == ["ann starts", "ann ends", "bob starts", "bob ends"] and time.monotonic() - began < 1.5


def test_long_runs_give_way_to_a_follow_up():
    queue = RunQueue(runs_at_once=1, length=4, short_first_seconds=0.3)
    other_ready, other_done = threading.Event(), threading.Event()

    def other_follow_up() -> None:
        with scheduler.follow_up(queue):
            other_ready.set()
            other_done.wait(5)
    other = threading.Thread(target=other_follow_up, daemon=True)
    other.start()
    other_ready.wait(5)
    running = started_elsewhere(queue, "ann")  # after: its ended thread's id is not the other's
    assert queue.answers_in_flight() == 0 and queue.short_in_flight() == 1  # short, but no answer
    began = time.monotonic()
    queue.checkpoint(running)  # a long run still gives way to a follow-up (up to its cap)
    assert time.monotonic() - began > 0.25
    other_done.set()
    other.join(5)
    queue.leave(running)


def test_a_follow_up_waits_at_most_its_cap():
    queue = RunQueue(runs_at_once=1, length=4)
    answer = another_users_answer(queue, 3.0)
    with queue.follow_up():
        began = time.monotonic()
        queue.give_way(0.2)
        assert 0.15 < time.monotonic() - began < 1.5
    answer.join(5)


def test_a_maps_metrics_give_way_between_their_batches(tiny_model, monkeypatch):
    """Deletion, insertion and ROAD run in batches, with a checkpoint before each (a follow-up's)."""
    queue = RunQueue(runs_at_once=1, length=4)
    batches: list[float] = []
    monkeypatch.setattr(queue, "give_way", lambda: batches.append(time.monotonic()))
    photo = np.random.default_rng(0).integers(0, 256, (40, 52, 3), dtype=np.uint8)
    heatmap = np.random.default_rng(1).random((40, 52)).astype(np.float32)
    with scheduler.follow_up(queue):
        metrics = cam.trust_metrics(tiny_model, cam.given_map(tiny_model, photo, heatmap, 1))
    given_way = len(batches)
    assert given_way >= 2 and np.isfinite(metrics.deletion.auc)
    cam.trust_metrics(tiny_model, cam.given_map(tiny_model, photo, heatmap, 1))  # outside a follow-up: no giving way
    assert len(batches) == given_way

# --- limits -------------------------------------------------------------------------------------

def test_limits_default_without_a_file_and_read_a_file(tmp_path):
    assert limits.read(tmp_path / "missing.toml") == limits.Limits()
    path = tmp_path / "vizcore.toml"
    path.write_text("[limits]\nqueue_length = 4\nmax_steps = 100\n")
    chosen = limits.read(path)
    assert (chosen.queue_length, chosen.max_steps, chosen.runs_at_once) == (4, 100, 1)


@pytest.mark.parametrize("text, words", [
    ("[limits]\nmax_steps = 0\n", "max_steps must be a whole number of at least 1"),
    ("[limits]\nmax_steps = 'many'\n", "max_steps must be a whole number"),
    ("[limits]\nqueue_lenght = 3\n", "'queue_lenght', which is not a limit"),
    ("[limits\n", "is not a valid TOML file"),
])
def test_a_bad_limits_file_is_named_with_its_problem(tmp_path, text, words):
    path = tmp_path / "vizcore.toml"
    path.write_text(text)
    with pytest.raises(RequestError, match=words):
        limits.read(path)


def test_a_run_over_the_caps_is_refused_in_words():
    caps = limits.Limits(max_steps=100, max_size=256, max_filters=16)
    caps.check_run(steps=100, size=256, images=16)  # at the caps: allowed
    with pytest.raises(RequestError, match="at most 100 steps .* asks for 101.*max_steps"):
        caps.check_run(steps=101)
    with pytest.raises(RequestError, match="at most 16 images in one grid"):
        caps.check_run(images=64)


# --- on a page ----------------------------------------------------------------------------------

@pytest.fixture
def limited(tmp_path, monkeypatch):
    """The app's limits read from a file of the test's (then the defaults again)."""
    from ui import runs as common
    path = tmp_path / "vizcore.toml"
    monkeypatch.setenv(limits.ENVIRONMENT, str(path))
    yield path
    monkeypatch.delenv(limits.ENVIRONMENT)
    common.server_limits.clear()
    common.server_limits()


def filters_page():
    from streamlit.testing.v1 import AppTest

    from ui import runs as common
    common.server_limits.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    return at.switch_page("pages/filters.py").run()


def test_the_page_keeps_to_the_caps_and_says_when_the_queue_is_full(limited):
    limited.write_text("[limits]\nqueue_length = 0\nmax_steps = 5\nmax_filters = 16\n")
    at = filters_page()
    assert not at.exception and not at.error, (at.exception, at.error)
    steps = at.number_input(key="filters_steps_classic")
    assert steps.value == 5 and steps.max == 5  # the default (30) lowered to the cap
    assert 64 not in next(group for group in at.get("button_group") if group.key == "filters_count").options
    someone = started_elsewhere(scheduler.process_queue(), "another user")  # the one run at once: taken
    try:
        at.number_input(key="filters_size_classic").set_value(66)
        at.number_input(key="filters_seed").set_value(int(time.time()) % 10**6)  # never stored: it must queue
        at.button(key="filters_run").click().run()
    finally:
        scheduler.process_queue().leave(someone)
    assert any("The server is busy" in error.value for error in at.error), ([e.value for e in at.error], [m.value for m in at.markdown][:3], [i.value for i in at.info])
    assert "filters_result" not in at.session_state  # nothing ran


def test_a_broken_limits_file_is_named_and_the_defaults_apply(limited):
    limited.write_text("[limits]\nmax_steps = -3\n")
    at = filters_page()
    assert any("max_steps must be a whole number of at least 1" in error.value for error in at.sidebar.error)
    assert at.number_input(key="filters_steps_classic").max == filters.MAX_STEPS == limits.Limits().max_steps
