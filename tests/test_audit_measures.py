"""The audit's measures against hand computations (no model): ECE and the reliability diagram,
per-class precision, recall and F1, the confusion matrix, MAE and R², map statistics, and how a
folder's photos are found and labelled."""

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vizcore.audit import folder, maps, summary
from vizcore.errors import RequestError


def test_ece_equals_a_hand_computation():
    # Bins of width 1/15: 0.05 → bin 0 (0, 1/15]; 0.5 and 0.52 → bin 7 (7/15, 8/15]; 0.95, 0.99 → bin 14.
    confidence = [0.05, 0.5, 0.52, 0.95, 0.99, 1.0]
    correct = [0, 1, 0, 1, 1, 0]
    # bin 0: acc 0, conf 0.05 → |gap| 0.05, 1 photo; bin 7: acc 0.5, conf 0.51 → 0.01, 2 photos;
    # bin 14: acc 2/3, conf (0.95 + 0.99 + 1.0)/3 = 0.98 → 0.31333.., 3 photos.
    expected = (1 * 0.05 + 2 * 0.01 + 3 * abs(2 / 3 - 0.98)) / 6
    found = summary.reliability(np.array(confidence), np.array(correct))
    assert found["ece"] == pytest.approx(expected, abs=1e-12)
    assert found["count"][0] == 1 and found["count"][7] == 2 and found["count"][14] == 3 and sum(found["count"]) == 6
    assert found["accuracy"][7] == 0.5 and found["confidence"][7] == pytest.approx(0.51)
    assert (
        found["accuracy"][3] is None and len(found["bins"]) == 16 and found["bins"][0] == 0 and found["bins"][-1] == 1
    )


def test_ece_bin_edges_are_right_closed():
    # Exactly 1/15 belongs to the first bin ((0, 1/15]); a hair more to the second.
    found = summary.reliability(np.array([1 / 15, 1 / 15 + 1e-9]), np.array([1, 1]))
    assert found["count"][:2] == [1, 1]


def test_ece_of_a_perfectly_calibrated_set_is_zero_and_of_an_overconfident_one_is_not():
    confidence = np.full(10, 0.7)
    assert summary.reliability(confidence, np.array([1] * 7 + [0] * 3))["ece"] == pytest.approx(0.0, abs=1e-12)
    assert summary.reliability(confidence, np.array([1] * 3 + [0] * 7))["ece"] == pytest.approx(0.4)


def test_confusion_and_precision_recall_f1_by_hand():
    true = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    predicted = np.array([0, 1, 0, 1, 1, 2, 0, 2, 5])
    classes = np.array([0, 1, 2, 5])
    matrix = summary.confusion_matrix(true, predicted, classes)
    assert matrix.tolist() == [[2, 1, 0, 0], [0, 2, 0, 0], [1, 0, 2, 1], [0, 0, 0, 0]]
    scores = summary.precision_recall_f1(matrix)
    # class 0: tp 2, fp 1, fn 1 → P 2/3, R 2/3; class 1: tp 2, fp 1, fn 0 → P 2/3, R 1, F1 0.8;
    # class 2: tp 2, fp 0, fn 2 → P 1, R 1/2, F1 2/3; class 5: nothing true, one predicted → 0, 0, 0.
    assert scores["precision"] == pytest.approx([2 / 3, 2 / 3, 1.0, 0.0])
    assert scores["recall"] == pytest.approx([2 / 3, 1.0, 0.5, 0.0])
    assert scores["f1"] == pytest.approx([2 / 3, 0.8, 2 / 3, 0.0])
    assert scores["support"].tolist() == [3, 2, 4, 0]


def test_regression_errors_by_hand():
    true = np.array([[1.0], [2.0], [3.0], [4.0]])
    predicted = np.array([[1.5], [2.0], [2.0], [4.0]])
    errors = summary.regression_errors(true, predicted)
    assert errors["mae"] == pytest.approx([(0.5 + 0 + 1 + 0) / 4])
    assert errors["r2"] == pytest.approx([1 - (0.25 + 1) / 5.0])  # SS_tot = 2.25 + 0.25 + 0.25 + 2.25
    assert math.isnan(summary.regression_errors(np.ones((3, 1)), np.zeros((3, 1)))["r2"][0])


def test_map_statistics_by_hand():
    centre = np.zeros((5, 5), np.float32)
    centre[2, 2] = 1.0
    stats = maps.map_stats(centre)
    assert (stats.centre_row, stats.centre_col, stats.border_share, stats.entropy) == (0.5, 0.5, 0.0, 0.0)
    corner = np.zeros((5, 5), np.float32)
    corner[0, 0] = 1.0
    stats = maps.map_stats(corner)
    assert (stats.centre_row, stats.centre_col, stats.border_share) == (0.1, 0.1, 1.0)
    uniform = maps.map_stats(np.ones((5, 5)))
    assert uniform.border_share == pytest.approx(16 / 25) and uniform.entropy == pytest.approx(1.0)
    assert all(math.isnan(value) for value in maps.map_stats(np.zeros((5, 5))))


def _photo(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), (200, 10, 10)).save(path)


NAMES = ("tabby", "Egyptian cat", "military uniform")


def test_class_folders_match_names_ignoring_case_spaces_and_underscores_or_by_index(tmp_path):
    for name in ("Tabby/a.jpg", "egyptian_cat/b.png", "2/c.jpg", "loose.jpg", "Tabby/.hidden.jpg", "Tabby/notes.txt"):
        _photo(tmp_path / name) if name.endswith((".jpg", ".png")) else (tmp_path / name).write_text("x")
    found = folder.discover(tmp_path, NAMES, "softmax")
    assert found.layout == "subfolders"
    assert [(p.name, p.target) for p in found.photos] == [
        ("2/c.jpg", 2),
        ("Tabby/a.jpg", 0),
        ("egyptian_cat/b.png", 1),
        ("loose.jpg", None),
    ]


def test_imagenet_folders_may_be_synset_ids(tmp_path):
    _photo(tmp_path / "n02123045" / "a.jpg")  # tabby, class 281
    names = tuple(f"class {i}" for i in range(1000))
    assert folder.discover(tmp_path, names, "softmax", imagenet=True).photos[0].target == 281
    with pytest.raises(RequestError, match="no class for the class folders 'n02123045'"):
        folder.discover(tmp_path, names, "softmax", imagenet=False)


def test_csv_of_paths_and_labels_for_every_head(tmp_path):
    for name in ("a.jpg", "b.jpg"):
        _photo(tmp_path / name)
    table = tmp_path / "labels.csv"
    table.write_text("path,label\na.jpg,military_uniform\nb.jpg,0\n")
    assert [p.target for p in folder.discover(table, NAMES, "softmax").photos] == [2, 0]
    table.write_text("a.jpg,tabby;2\nb.jpg,\n")
    assert [p.target for p in folder.discover(table, NAMES, "multilabel").photos] == [(0, 2), None]
    table.write_text("a.jpg,1.5\nb.jpg,-2\n")
    assert [p.target for p in folder.discover(table, ("value",), "regression").photos] == [(1.5,), (-2.0,)]


@pytest.mark.parametrize(
    "make, kind, words",
    [
        (lambda root: None, "softmax", "No folder at"),
        (lambda root: root.mkdir(), "softmax", "No photos in"),
        (lambda root: _photo(root / "dog" / "a.jpg"), "softmax", "no class for the class folders 'dog'"),
        (lambda root: _photo(root / "tabby" / "a.jpg"), "regression", "give a CSV of path,value rows"),
    ],
)
def test_what_a_user_gets_wrong_is_said_in_words(tmp_path, make, kind, words):
    root = tmp_path / "photos"
    make(root)
    with pytest.raises(RequestError, match=words):
        folder.discover(root, NAMES, kind)


@pytest.mark.parametrize(
    "text, words",
    [
        (b"a.jpg,tabby,extra\n", "line 1 has 3 columns"),
        (b"a.jpg,dog\n", "labels.csv line 1: The model has no class for the labels 'dog'"),
        (b"\xff\xfe\x00bad", "not a readable CSV"),
    ],
)
def test_a_bad_csv_is_said_in_words(tmp_path, text, words):
    table = tmp_path / "labels.csv"
    table.write_bytes(text)
    with pytest.raises(RequestError, match=words):
        folder.discover(table, NAMES, "softmax")
