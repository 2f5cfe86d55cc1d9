"""vizcore.photo_store: uploaded photos kept by digest under the user's names, bounded, oldest dropped first."""
from __future__ import annotations

import os
import time

import pytest

from vizcore.photo_store import LINK_DIGITS, PhotoStore, digest_of, is_link_id, safe_name


def photo(n: int, size: int = 100) -> bytes:
    return bytes([n % 256]) * size


def aged(store: PhotoStore, stored, seconds_ago: float) -> None:
    """Make a kept photo look last used ``seconds_ago`` (mtime resolution is coarse on some file systems)."""
    moment = time.time() - seconds_ago
    os.utime(stored.path.parent, (moment, moment))


def test_a_photo_is_kept_under_its_digest_with_the_users_name(tmp_path):
    store = PhotoStore(tmp_path, max_photos=10, max_bytes=10_000)
    stored = store.put(photo(1), "Holiday in Rome.JPG")
    assert stored.digest == digest_of(photo(1))
    assert stored.name == "Holiday in Rome.JPG"
    assert stored.path == tmp_path / stored.digest / "Holiday in Rome.JPG"
    assert stored.path.read_bytes() == photo(1)
    found = store.find(stored.link_id)
    assert found is not None and found.name == "Holiday in Rome.JPG" and found.path == stored.path
    assert len(stored.link_id) == LINK_DIGITS


def test_one_photo_uploaded_twice_is_kept_once(tmp_path):
    store = PhotoStore(tmp_path, max_photos=10, max_bytes=10_000)
    first = store.put(photo(1), "cat.png")
    again = store.put(photo(1), "cat copy.png")
    assert again.digest == first.digest and again.path.parent == first.path.parent
    assert again.name == "cat copy.png" and again.path.read_bytes() == photo(1)  # named as uploaded last
    assert [p.name for p in store.photos()] == ["cat copy.png"]
    assert store.find(first.link_id).name == "cat copy.png"


def test_the_least_recently_used_photos_go_first_by_count(tmp_path):
    store = PhotoStore(tmp_path, max_photos=2, max_bytes=10_000)
    first, second = store.put(photo(1), "one.jpg"), store.put(photo(2), "two.jpg")
    aged(store, first, 30)
    aged(store, second, 60)
    assert store.find(first.link_id) is not None  # used again: now the most recent
    aged(store, first, 10)
    store.put(photo(3), "three.jpg")
    assert {p.name for p in store.photos()} == {"one.jpg", "three.jpg"}
    assert store.find(second.link_id) is None


def test_the_store_stays_within_its_bytes(tmp_path):
    store = PhotoStore(tmp_path, max_photos=100, max_bytes=250)
    older, newer = store.put(photo(1, size=100), "older.jpg"), store.put(photo(2, size=100), "newer.jpg")
    aged(store, older, 40)
    aged(store, newer, 20)
    store.put(photo(9, size=100), "nine.jpg")
    assert {p.name for p in store.photos()} == {"newer.jpg", "nine.jpg"}
    assert sum(p.path.stat().st_size for p in store.photos()) <= 250


def test_a_photo_bigger_than_the_budget_is_still_kept_until_the_next(tmp_path):
    store = PhotoStore(tmp_path, max_photos=5, max_bytes=50)
    big = store.put(photo(1, size=80), "big.jpg")
    assert store.find(big.digest) is not None  # the photo being used is never dropped


@pytest.mark.parametrize("given, kept", [
    ("cat.jpg", "cat.jpg"),
    ("../../etc/passwd", "passwd"),
    ("C:\\Users\\me\\dog.png", "dog.png"),
    ("", "photo"),
    ("..", "photo"),
    ("bad\x00name\n.jpg", "badname.jpg"),
    ("x" * 300 + ".jpeg", "x" * 115 + ".jpeg"),
])
def test_names_are_stored_safely(given, kept):
    assert safe_name(given) == kept


@pytest.mark.parametrize("text, ok", [("0123456789abcdef", True), ("0123456789abcde", False),
                                      ("0123456789abcdeg", False), ("*" * 16, False), ("0123456789ABCDEF", False)])
def test_only_hex_digests_name_a_photo(tmp_path, text, ok):
    assert is_link_id(text) is ok
    assert PhotoStore(tmp_path, max_photos=1, max_bytes=1).find(text) is None  # nothing kept, nothing found
