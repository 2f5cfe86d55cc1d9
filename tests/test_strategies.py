"""Strategies (SpRAy) on a planted shortcut: a small CNN trained here on drawn photos, part of whose
class "red" carries a mark in the top-left corner, audited; the class's maps fall into a cluster of
mostly marked photos, whose mean map sits on the mark, flagged; the same model on photos without
the mark flags nothing. The eigengap, the edge share and the overlap on hand-made cases; the CLI."""

import json

import numpy as np
import pytest
from planted import MARK_CELLS, audited, photo_folder, trained_model

from vizcore.audit import strategies as spray
from vizcore.cli import main

AUDIT_PER_CLASS = 30  # photos per class folder audited


@pytest.fixture(scope="module")
def audits(tmp_path_factory):
    """(audit folder of photos with the mark, audit folder of photos without it), one trained model."""
    folder = tmp_path_factory.mktemp("planted")
    vm = trained_model(folder)
    marked = audited(vm, photo_folder(folder / "marked", AUDIT_PER_CLASS, 0.4, seed=5), folder / "out_marked")
    plain = audited(vm, photo_folder(folder / "plain", AUDIT_PER_CLASS, 0.0, seed=6), folder / "out_plain")
    return marked, plain


def _marked(found: spray.Strategies, cluster: spray.Cluster) -> int:
    return sum(found.paths[at].split("/")[-1].startswith("m") for at in cluster.members)


def test_a_planted_mark_falls_in_one_flagged_cluster_sitting_on_the_mark(audits):
    found = spray.audit_strategies(audits[0], "red")
    marked_total = sum(path.split("/")[-1].startswith("m") for path in found.paths)
    assert found.chosen_by == "eigengap" and len(found.paths) == AUDIT_PER_CLASS and marked_total == 12
    shortcut = max(found.clusters, key=lambda cluster: _marked(found, cluster))
    assert _marked(found, shortcut) / shortcut.size >= 0.8, "the cluster holds mostly marked photos"
    assert _marked(found, shortcut) / marked_total >= 0.8, "and most of the marked photos"
    row, col = np.unravel_index(np.argmax(shortcut.mean_map), shortcut.mean_map.shape)
    assert row < MARK_CELLS and col < MARK_CELLS, "its mean map peaks on the mark"
    assert shortcut.where == "top-left corner" and shortcut.flagged
    assert found.flagged == [shortcut], "the clusters of the blob photos are not flagged"
    assert found.embedding.shape == (AUDIT_PER_CLASS, 2) and found.embedding_method == "tsne"


def test_the_same_model_on_photos_without_the_mark_flags_nothing(audits):
    for clusters in (None, 3, 6):  # the eigengap's choice, and more clusters than the photos hold
        found = spray.audit_strategies(audits[1], "red", clusters=clusters)
        assert not found.flagged, [(c.size, c.overlap, c.edge_share) for c in found.clusters]
        assert len(found.clusters) == (clusters or len(found.clusters))


def test_by_predicted_class_takes_the_photos_the_model_calls_it(audits):
    found = spray.audit_strategies(audits[0], "green", by="predicted", embedding="spectral")
    assert found.by == "predicted" and found.embedding_method == "spectral"
    assert all(path.startswith("green/") for path in found.paths)  # the model calls every green photo green


def _spots(rng, places, per_place: int, side: int = 16) -> np.ndarray:
    """Maps with a Gaussian spot at each (row, col) place, jittered by a cell, ``per_place`` each."""
    yy, xx = np.mgrid[:side, :side]
    maps = []
    for row, col in places:
        for _ in range(per_place):
            r, c = row + rng.uniform(-1, 1), col + rng.uniform(-1, 1)
            maps.append(np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / 4.0))
    return np.stack(maps).astype(np.float32)


@pytest.mark.parametrize("places", [[(3, 3), (3, 12), (12, 8)], [(8, 8)], [(2, 2), (13, 13)]])
def test_the_eigengap_counts_well_separated_groups_and_the_clusters_recover_them(places):
    maps = _spots(np.random.default_rng(0), places, 12)
    found = spray.strategies(spray.ClassMaps([f"{at}.png" for at in range(len(maps))], maps,
                                             [True] * len(maps), [0.9] * len(maps)), "spots")  # fmt: skip
    assert len(found.clusters) == len(places), np.round(found.eigenvalues, 3)
    groups = np.repeat(np.arange(len(places)), 12)
    for cluster in found.clusters:  # each cluster is one group, whole
        assert len(set(groups[cluster.members])) == 1 and cluster.size == 12


def test_edge_share_overlap_and_words_on_hand_made_maps():
    corner = np.zeros((16, 16))
    corner[0:2, 0:2] = 1.0
    centre = np.zeros((16, 16))
    centre[7:9, 7:9] = 1.0
    assert spray.edge_share(corner) == pytest.approx(1.0) and spray.edge_share(centre) == pytest.approx(0.0)
    assert spray.edge_share(np.ones((16, 16))) == pytest.approx(1 - (12 / 16) ** 2)
    assert spray.overlap(corner / 4, centre / 4) == 0.0 and spray.overlap(corner / 4, corner / 4) == pytest.approx(1)
    assert spray.where_in_words(0.1, 0.1, 0.9) == "top-left corner" and spray.where_in_words(0.5, 0.9, 0.8) == (
        "right edge"
    )
    assert spray.where_in_words(0.1, 0.1, 0.1) == "towards the top-left"  # not on the edge: no corner
    assert spray.where_in_words(0.5, 0.5, 0.0) == "centre"


def test_cli_json_lists_each_cluster_with_members_and_mean_map_statistics(audits, capsys):
    assert main(["strategies", str(audits[0]), "--class", "Red", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["class"] == "red" and payload["photos"] == AUDIT_PER_CLASS
    assert payload["clusters_chosen_by"] == "eigengap" and len(payload["eigenvalues"]) >= 2
    assert sum(cluster["size"] for cluster in payload["clusters"]) == AUDIT_PER_CLASS
    flagged = [cluster for cluster in payload["clusters"] if cluster["flagged"]]
    assert len(flagged) == 1 and flagged[0]["mean_map"]["where"] == "top-left corner"
    assert {"centre_row", "centre_col", "border_share", "edge_share", "overlap_with_rest"} <= set(
        flagged[0]["mean_map"]
    )
    assert all(path.startswith("red/m") for path in flagged[0]["members"][:5])
    assert main(["strategies", str(audits[0]), "--class", "red", "--clusters", "3"]) == 0
    text = capsys.readouterr().out
    assert "3 clusters (chosen by you)" in text and "FLAGGED" in text


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda good, tmp: ["strategies", str(tmp), "--class", "red"], "is not an audit folder"),
        (lambda good, tmp: ["strategies", good, "--class", "blue"], "No class 'blue' in this audit"),
        (lambda good, tmp: ["strategies", good, "--class", "red", "--clusters", "0"], "clusters must be between"),
        (lambda good, tmp: ["strategies", good, "--class", "7"], "Class 7 is out of range"),
    ],
)
def test_cli_errors_are_one_line(audits, tmp_path, capsys, make, words):
    assert main(make(str(audits[0]), tmp_path)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in captured.err, captured.err


def test_cli_without_a_class_exits_2_in_one_line(audits, capsys):
    with pytest.raises(SystemExit) as stopped:
        main(["strategies", str(audits[0])])
    assert stopped.value.code == 2 and "required: --class" in capsys.readouterr().err
