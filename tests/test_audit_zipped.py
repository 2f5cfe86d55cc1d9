"""An uploaded zip of photos: unpacked into a folder of its own and audited as a folder, or refused in
words (paths leaving the folder, links, bombs, too many photos or bytes, not a zip) with nothing written."""

import io
import os
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from vizcore import RequestError
from vizcore.audit import zipped
from vizcore.audit.folder import discover
from vizcore.limits import Limits

SAMPLES = Path(__file__).resolve().parent.parent / "assets" / "samples"


def _png(size=(32, 32), colour=(200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def _zip(entries: dict[str, bytes], links: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, "/etc/passwd")
    return out.getvalue()


def _everything_under(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*")}


def test_a_zipped_folder_of_class_subfolders_unpacks_to_that_folder_and_is_labelled(tmp_path):
    data = _zip({
        "pets/tabby/a.png": _png(),
        "pets/tabby/b.jpg": (SAMPLES / "cat.jpg").read_bytes(),
        "pets/espresso/c.png": _png(colour=(40, 20, 10)),
        "pets/notes.txt": b"not a photo",
        "__MACOSX/pets/._a.png": b"resource fork",
        "pets/.DS_Store": b"junk",
    })
    folder = zipped.unpack(data, tmp_path / "unpacked", Limits())
    assert folder.name == "pets"  # the zip's single top folder: its subfolders are the classes
    assert _everything_under(folder) == {"tabby", "tabby/a.png", "tabby/b.jpg", "espresso", "espresso/c.png"}
    dataset = discover(folder, ("tabby", "espresso"), "softmax")
    assert dataset.layout == "subfolders"
    assert [(photo.name, photo.target) for photo in dataset.photos] == [
        ("espresso/c.png", 1), ("tabby/a.png", 0), ("tabby/b.jpg", 0)
    ]


def test_the_same_zip_again_reuses_its_folder_so_its_audit_resumes(tmp_path):
    data = _zip({"a.png": _png(), "b.png": _png(colour=(1, 2, 3))})
    first = zipped.unpack(data, tmp_path, Limits())
    stamp = (first / "a.png").stat().st_mtime_ns
    os.utime(first / "a.png", ns=(stamp - 10**9, stamp - 10**9))
    again = zipped.unpack(data, tmp_path, Limits())
    assert again == first and (again / "a.png").stat().st_mtime_ns == stamp - 10**9  # not unpacked twice
    assert zipped.unpack(_zip({"c.png": _png()}), tmp_path, Limits()) != first  # another zip, another folder


@pytest.mark.parametrize("name", ["../evil.png", "photos/../../evil.png", "/tmp/evil.png", "..\\evil.png",
                                  "C:/evil.png"])
def test_a_path_that_leaves_its_folder_refuses_the_zip_and_writes_nothing(tmp_path, name):
    into = tmp_path / "unpacked"
    data = _zip({"fine.png": _png(), name: _png()})
    with pytest.raises(RequestError, match="a path that leaves its folder"):
        zipped.unpack(data, into, Limits())
    assert not into.exists() and _everything_under(tmp_path) == set()


def test_a_link_refuses_the_zip(tmp_path):
    with pytest.raises(RequestError, match="link"):
        zipped.unpack(_zip({"a.png": _png()}, links=("b.png",)), tmp_path, Limits())
    assert _everything_under(tmp_path) == set()


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path):
    bomb = _zip({"a.png": _png(), "huge.png": bytes(50 * 2**20)})  # 50 MB of zeros deflate to ~50 kB
    assert len(bomb) < 2**20
    with pytest.raises(RequestError, match="zip bomb"):
        zipped.unpack(bomb, tmp_path, Limits())
    assert _everything_under(tmp_path) == set()


def test_a_photo_that_really_is_compressible_is_not_taken_for_a_bomb(tmp_path):
    blank = _png(size=(2000, 2000), colour=(255, 255, 255))  # a blank PNG: small, and small inside the zip
    folder = zipped.unpack(_zip({"blank.png": blank}), tmp_path, Limits())
    assert (folder / "blank.png").read_bytes() == blank


def test_more_photos_or_bytes_than_the_server_allows_are_refused_in_its_words(tmp_path):
    many = _zip({f"p{at}.png": _png() for at in range(5)})
    with pytest.raises(RequestError, match="holds 5 photos; this server audits at most 4.*zip_photos"):
        zipped.unpack(many, tmp_path, Limits(zip_photos=4))
    noise = Image.frombytes("RGB", (800, 800), os.urandom(800 * 800 * 3))  # incompressible: ~1.9 MB
    out = io.BytesIO()
    noise.save(out, "PNG")
    big = _zip({"noise.png": out.getvalue()})
    with pytest.raises(RequestError, match="is 2 MB; this server takes zips of at most 1 MB|unpack to"):
        zipped.unpack(big, tmp_path, Limits(zip_mb=1))
    assert zipped.unpack(many, tmp_path, Limits(zip_photos=5)).is_dir()  # at the limit: taken


@pytest.mark.parametrize(("data", "words"), [
    (b"PK\x03\x04 this is not really a zip", "not a zip archive"),
    ((SAMPLES / "cat.jpg").read_bytes(), "not a zip archive"),
    (None, "holds no photos"),
])
def test_a_file_that_is_not_a_zip_of_photos_is_refused(tmp_path, data, words):
    data = _zip({"readme.txt": b"no photos here"}) if data is None else data
    with pytest.raises(RequestError, match=words):
        zipped.unpack(data, tmp_path, Limits())


def test_a_damaged_entry_leaves_no_half_unpacked_folder(tmp_path):
    payload = bytes(range(256)) * 400
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("a.png", _png())
        archive.writestr("b.png", payload)
    data = bytearray(out.getvalue())
    at = data.find(payload[:1024]) + 5000
    data[at:at + 30] = bytes(30)  # b.png's bytes no longer match its CRC
    with pytest.raises(RequestError, match="damaged"):
        zipped.unpack(bytes(data), tmp_path / "unpacked", Limits())
    assert _everything_under(tmp_path / "unpacked") == set()
