"""Users' models within a memory budget (vizcore.budget), uploads within a disk budget: a class where each
student brings a model keeps what fits, least recently used dropped first, each built once."""
from __future__ import annotations

import threading
import time

import pytest


def test_values_past_the_budget_drop_the_least_recently_used():
    from vizcore.budget import MemoryBudget

    budget = MemoryBudget(100)
    built = []

    def get(key, size):
        return budget.get(key, lambda: built.append(key) or key.upper(), lambda value: size)

    assert get("a", 40) == "A" and get("b", 40) == "B"
    assert get("a", 40) == "A"  # kept: not built again, and now the most recently used
    get("c", 40)  # 120 > 100: b, the least recently used, goes
    assert budget.keys() == ["a", "c"] and budget.used == 80
    assert built == ["a", "b", "c"] and (budget.builds, budget.drops) == (3, 1)
    get("b", 40)  # built again when asked again
    assert built[-1] == "b" and budget.keys() == ["c", "b"]


def test_a_value_over_the_whole_budget_is_kept_alone():
    from vizcore.budget import MemoryBudget

    budget = MemoryBudget(100)
    budget.get("small", lambda: 1, lambda value: 10)
    assert budget.get("huge", lambda: 2, lambda value: 500) == 2
    assert budget.keys() == ["huge"] and budget.drops == 1


def test_many_threads_asking_at_once_build_once_and_others_in_parallel():
    from vizcore.budget import MemoryBudget

    budget = MemoryBudget(10**6)
    calls: list[str] = []

    def slow(key):
        def build():
            calls.append(key)
            time.sleep(0.3)
            return key
        return build

    threads = [threading.Thread(target=budget.get, args=(key, slow(key), len)) for key in ["a"] * 6 + ["b"] * 6]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(calls) == ["a", "b"]
    assert time.perf_counter() - start < 0.55  # a and b built at the same time, not one after the other


def test_a_failed_build_is_not_kept_and_the_next_ask_builds_again():
    from vizcore.budget import MemoryBudget

    budget = MemoryBudget(100)

    def fail():
        raise OSError("no such file")

    with pytest.raises(OSError):
        budget.get("a", fail, len)
    assert budget.get("a", lambda: "ok", len) == "ok" and budget.builds == 1


def test_a_models_memory_estimate_grows_with_its_weights():
    import keras

    from vizcore import user_models

    def model(width):
        inputs = keras.Input((8, 8, 3))
        return keras.Model(inputs, keras.layers.Conv2D(width, 3)(inputs))

    small, big = user_models.memory_estimate(model(4)), user_models.memory_estimate(model(40))
    assert small == user_models.MEMORY_PER_WEIGHT_BYTE * 4 * (3 * 3 * 3 * 4 + 4)
    assert big == 10 * small


def test_the_budgets_are_limits_of_the_server(tmp_path):
    import vizcore
    from vizcore import limits

    assert limits.read(tmp_path / "none.toml").user_models_mb == 2000
    path = tmp_path / "vizcore.toml"
    path.write_text("[limits]\nuser_models_mb = 300\nkept_models_mb = 50\n")
    chosen = limits.read(path)
    assert (chosen.user_models_mb, chosen.kept_models_mb) == (300, 50)
    path.write_text("[limits]\nuser_models_mb = 0\n")
    with pytest.raises(vizcore.RequestError, match="user_models_mb must be a whole number of at least 1"):
        limits.read(path)


def test_model_uploads_past_the_disk_budget_go_least_recently_used_first(tmp_path, monkeypatch):
    import os

    from ui import runs, uploads
    from vizcore.limits import Limits

    monkeypatch.setattr(uploads, "uploads_dir", lambda: tmp_path)
    monkeypatch.setattr(runs, "limits", lambda: Limits(kept_models_mb=3))
    for number, name in enumerate(["old", "middle", "new"]):
        folder = tmp_path / "models" / name
        folder.mkdir(parents=True)
        (folder / f"{name}.keras").write_bytes(b"x" * (2 * 2**20 if name != "new" else 5 * 2**20))
        os.utime(folder, (number, number))
    uploads.forget_old_uploads()
    assert sorted(path.name for path in (tmp_path / "models").iterdir()) == ["new"]  # 5 MB: over alone, kept
    (tmp_path / "models" / "new").joinpath("new.keras").write_bytes(b"x" * 2**20)
    for name in ["a", "b"]:
        folder = tmp_path / "models" / name
        folder.mkdir()
        (folder / "m.keras").write_bytes(b"x" * 2**20)
    os.utime(tmp_path / "models" / "new", (1, 1))
    os.utime(tmp_path / "models" / "a", (2, 2))
    os.utime(tmp_path / "models" / "b", (3, 3))
    uploads.forget_old_uploads()  # 3 MB in all: all kept
    assert sorted(path.name for path in (tmp_path / "models").iterdir()) == ["a", "b", "new"]
