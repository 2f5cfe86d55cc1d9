"""Concepts (CRAFT): NMF recovers known non-negative mixtures; the Hungarian matching pairs concepts;
the importance ranks first the concept whose removal changes the score most (checked against the
score recomputed with the concept taken out); a fixed seed gives the same concepts, another seed
others; on the planted shortcut (tests/planted.py) the most important concept of "red" is the mark,
its map on a marked photo sits on it, and its feature picture climbs its direction; the CLI."""

import hashlib
import json
import shutil

import numpy as np
import pytest
from PIL import Image
from planted import MARK_CELLS, audited, photo_folder, trained_model

from vizcore import RequestError, filters
from vizcore.audit import concepts as craft
from vizcore.cli import main

AUDIT_PER_CLASS = 16
MARK_PX = 8  # a crop on the mark starts within this many px of the top-left corner


def _parts(rng, concepts: int, channels: int) -> np.ndarray:
    """Non-negative parts (concepts, channels), each mostly on its own channels."""
    parts = rng.uniform(0, 0.1, (concepts, channels))
    for number, own in enumerate(np.array_split(np.arange(channels), concepts)):
        parts[number, own] += rng.uniform(0.5, 1.5, len(own))
    return parts


def test_nmf_recovers_known_non_negative_mixtures():
    rng = np.random.default_rng(0)
    parts = _parts(rng, 4, 24)
    mixtures = rng.exponential(1.0, (600, 4)) @ parts + rng.uniform(0, 0.01, (600, 24))
    bank = craft.factorise(mixtures, 4, seed=0)
    assert craft.matched_cosines(bank, parts).min() >= 0.9
    # The check can fail: a bank of random directions does not match the parts.
    assert craft.matched_cosines(rng.uniform(0, 1, (4, 24)), parts).min() < 0.9


def test_hungarian_matching_pairs_each_concept_with_its_own():
    rng = np.random.default_rng(1)
    bank = _parts(rng, 5, 20)
    shuffled = bank[[3, 0, 4, 1, 2]] * rng.uniform(0.5, 2.0, (5, 1))  # another order and scale
    np.testing.assert_allclose(craft.matched_cosines(bank, shuffled), 1.0, atol=1e-9)
    greedy_trap = np.array([[1.0, 0.0], [0.9, 0.44]])  # row 1 is closest to row 0 too: only one may take it
    assert craft.matched_cosines(greedy_trap, np.eye(2))[1] < 0.5


@pytest.fixture(scope="module")
def linear_head(tmp_path_factory):
    """A conv layer, then global average pooling and a Dense: the score is linear in the layer's activations,
    so the score without a concept is computed here exactly; (vm, its crops, the Dense weights)."""
    import keras

    from vizcore.models import VizModel

    keras.utils.set_random_seed(3)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(12, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(x))
    vm = VizModel("linear", model, (16, 16), ("a", "b", "c"), "unit")
    folder = tmp_path_factory.mktemp("linear")
    rng = np.random.default_rng(3)
    for at in range(12):
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{at}.png")
    paths = [f"{at}.png" for at in range(12)]
    for _ in craft.stream_crops(vm, "conv", 1, folder, paths, folder / "crops", batch=5):
        pass
    kernel, bias = model.get_layer("predictions").get_weights()
    return vm, craft.Crops.read(folder / "crops"), kernel, bias


def _score_change(acts, weights, bank, number: int, column: int) -> float:
    """The mean change of a class's score (the Dense's column) when concept ``number``'s part U_i W_i is taken
    out of every cell: with global average pooling, mean over cells of the part, times the kernel's column."""
    part = np.einsum("pc,d->pcd", weights[..., number], bank[number])
    return float(np.mean(part.mean(axis=1) @ column))


def test_importance_ranks_first_the_concept_whose_removal_changes_the_score_most(linear_head):
    vm, crops, kernel, _ = linear_head
    found = craft.concepts_of(crops, "b", 1, "conv", 5, 0, [(16, 16)] * 12)
    acts = np.asarray(crops.array("activations"))
    bank = found.bank
    weights = craft.coefficients(acts.reshape(-1, acts.shape[-1]), bank).reshape(*acts.shape[:2], len(bank))
    changes = [_score_change(acts, weights, bank, c.number, kernel[:, 1]) for c in found.concepts]
    assert np.argmax(np.abs(changes)) == 0 == found.concepts[0].number
    np.testing.assert_allclose([c.importance for c in found.concepts], changes, rtol=1e-3, atol=1e-6)
    assert sum(abs(c.share) for c in found.concepts) == pytest.approx(1.0)
    # The comparison can fail: class 0's score changes otherwise.
    other = [_score_change(acts, weights, bank, c.number, kernel[:, 0]) for c in found.concepts]
    assert not np.allclose(other, changes, rtol=1e-2)


def test_a_fixed_seed_gives_the_same_concepts_and_another_seed_others(linear_head):
    _, crops, _, _ = linear_head
    first, again = (craft.concepts_of(crops, "b", 1, "conv", 4, 7, [(16, 16)] * 12) for _ in range(2))
    np.testing.assert_array_equal(first.bank, again.bank)
    assert [c.top_crops for c in first.concepts] == [c.top_crops for c in again.concepts]
    other = craft.concepts_of(crops, "b", 1, "conv", 4, 8, [(16, 16)] * 12)
    assert not np.allclose(np.sort(first.bank, axis=0), np.sort(other.bank, axis=0), atol=1e-3)
    assert 0.0 < first.stability <= 1.0 and all(0 <= c.stability <= 1 + 1e-9 for c in first.concepts)


@pytest.fixture(scope="module")
def planted_audit(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted-concepts")
    vm = trained_model(folder)
    out = audited(vm, photo_folder(folder / "photos", AUDIT_PER_CLASS, 0.5, seed=5), folder / "out")
    return vm, out


def _found(vm, out, **options) -> craft.Concepts:
    items = list(craft.find_concepts(vm, out, "red", **options))
    assert all(isinstance(item, craft.Progress) for item in items[:-1])
    return items[-1]


def test_the_planted_mark_is_the_most_important_concept_of_red(planted_audit):
    vm, out = planted_audit
    found = _found(vm, out, concepts=4)
    assert found.importance_method == "gradient" and not found.cached
    mark = found.concepts[0]
    assert mark.importance > 0 and all(crop["file"].startswith("red/m") for crop in mark.top_crops)
    assert all(crop["box"][0] < MARK_PX and crop["box"][1] < MARK_PX for crop in mark.top_crops)
    again = _found(vm, out, concepts=4)
    assert again.cached and np.allclose(again.bank, found.bank)
    marked = np.asarray(Image.open(out.parent / "photos" / mark.top_crops[0]["file"]).convert("RGB"))
    on_photo = craft.photo_concepts(vm, found, marked)
    row, col = np.unravel_index(np.argmax(on_photo.maps[0]), on_photo.maps[0].shape)
    assert row < MARK_CELLS and col < MARK_CELLS, "the mark concept's map sits on the mark"
    assert np.argmax(np.abs(on_photo.shares)) == 0 and np.abs(on_photo.shares).sum() == pytest.approx(1.0)


def test_a_concept_picture_climbs_its_direction(planted_audit):
    vm, out = planted_audit
    found = _found(vm, out, concepts=4)
    last = list(filters.run(vm, craft.picture_request(vm, found, steps=24)))[-1]
    assert last.images.shape[0] == 4
    measured = craft.direction_activation(vm, found.layer, last.images, found.bank)
    np.testing.assert_allclose(measured, last.activations, rtol=0.05, atol=1e-3)
    assert np.all(last.activations > last.initial), "each picture activates its own direction more than its start"


def test_cli_json_has_importance_crops_and_stability(planted_audit, capsys):
    vm, out = planted_audit
    model = str(out.parent / "planted.keras")
    args = ["concepts", model, str(out), "--class", "red", "--concepts", "3", "--scaling", "0-1",
            "--labels", str(out.parent / "planted.txt"), "--json"]  # fmt: skip
    assert main(args) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["importance_method"].startswith("gradient") and len(payload["concepts"]) == 3
    assert 0 < payload["stability"] <= 1 and "Hungarian" in payload["stability_method"]
    crop = payload["concepts"][0]["top_crops"][0]
    assert set(crop) == {"file", "box", "weight"} and len(crop["box"]) == 4
    assert main(args[:-1]) == 0
    assert "concept 0" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--class", "blue"], "No class 'blue'"),
        (["--class", "red", "--concepts", "1"], "concepts must be"),
    ],
)
def test_cli_errors_are_one_line(planted_audit, capsys, extra, words):
    vm, out = planted_audit
    args = ["concepts", str(out.parent / "planted.keras"), str(out), "--scaling", "0-1", *extra]
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in captured.err, captured.err


def test_another_models_audit_is_refused_in_words(planted_audit, tiny_model):
    _, out = planted_audit
    with pytest.raises(RequestError, match="is an audit of"):
        list(craft.find_concepts(tiny_model, out, "red"))


def test_a_photo_is_found_in_its_audit_by_its_bytes_with_its_class_concepts(planted_audit, tmp_path):
    vm, out = planted_audit
    marked = out.parent / "photos" / "red" / "m000.png"
    found = craft.audit_of_photo(vm, hashlib.sha256(marked.read_bytes()).hexdigest(), audits=out.parent)
    assert found is not None and found.out == out and found.path == "red/m000.png" and found.true_index == 0
    other = tmp_path / "other.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(other)
    assert craft.audit_of_photo(vm, hashlib.sha256(other.read_bytes()).hexdigest(), audits=out.parent) is None
    _found(vm, out, concepts=4)
    stored = craft.stored_for_class(vm, out, 0)
    assert stored and all(len(item.concepts) in (3, 4) for item in stored)  # this test's and the CLI's
    assert craft.stored_for_class(vm, out, 1) == []  # none found for green yet


def test_concepts_of_a_folder_audited_again_with_more_photos_are_found_again(planted_audit, tmp_path):
    vm, out = planted_audit
    shutil.copytree(out.parent / "photos", tmp_path / "photos")
    audited(vm, tmp_path / "photos", tmp_path / "out")
    first = _found(vm, tmp_path / "out", concepts=3)
    assert craft.stored_concepts(vm, tmp_path / "out", "red", concepts=3) is not None
    shutil.copy(tmp_path / "photos" / "red" / "p010.png", tmp_path / "photos" / "red" / "p999.png")
    Image.open(tmp_path / "photos" / "red" / "p999.png").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(
        tmp_path / "photos" / "red" / "p999.png")  # fmt: skip
    audited(vm, tmp_path / "photos", tmp_path / "out")
    assert craft.stored_concepts(vm, tmp_path / "out", "red", concepts=3) is None, "not the former photos' concepts"
    again = _found(vm, tmp_path / "out", concepts=3)
    assert not again.cached and again.photos == first.photos + 1
