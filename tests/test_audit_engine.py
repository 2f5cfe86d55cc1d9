"""The audit end to end on models built here: batched Grad-CAM equals Grad-CAM photo by photo; a
small CNN trained in the test on drawn images, saved as .keras, audited over a labelled folder, its
accuracy, confusion matrix, per-class F1 and ECE equal NumPy references; shards merge to the
unsharded run; a stopped run resumes; bad files are skipped and named; other heads get their own
measures; the CLI's JSON and its one-line errors."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

import vizcore
from vizcore import audit, cam
from vizcore.audit.batch import predict_and_explain
from vizcore.cli import main

CLASSES = ("red", "green", "blue")  # what the trained model tells apart: the dominant colour of a blob
SIDE = 32  # px: the drawn photos and the model's input
TRAIN_PER_CLASS = 80  # drawn training images per class (240 in all)
AUDIT_PER_CLASS = 8  # photos per class folder audited


def _drawn(rng, colour: int, mix: float) -> np.ndarray:
    """A blob of one colour (``mix`` of it leaked into the next channel) on a noisy grey background."""
    image = rng.integers(40, 90, (SIDE, SIDE, 3)).astype(np.float32)
    row, col, radius = *rng.integers(8, SIDE - 8, 2), rng.integers(4, 8)
    yy, xx = np.mgrid[:SIDE, :SIDE]
    blob = (yy - row) ** 2 + (xx - col) ** 2 <= radius**2
    image[blob, colour] = 230
    image[blob, (colour + 1) % 3] = 230 * mix
    return image.astype(np.uint8)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(VizModel of a small CNN trained here and loaded from its .keras file, the labelled photo folder)."""
    import keras

    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    labels = np.repeat(np.arange(3), TRAIN_PER_CLASS)
    images = np.stack([_drawn(rng, c, rng.uniform(0, 0.9)) for c in labels]).astype(np.float32) / 255.0
    inputs = keras.Input((SIDE, SIDE, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv_1")(inputs)
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="conv_2")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(x))
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss="sparse_categorical_crossentropy")
    model.fit(images, labels, epochs=4, batch_size=32, verbose=0)
    folder = tmp_path_factory.mktemp("audit")
    model.save(folder / "colours.keras")
    (folder / "colours.txt").write_text("\n".join(CLASSES))
    photos = folder / "photos"
    for colour, name in enumerate(("Red", "GREEN", "b_l_u_e")):  # matched ignoring case and underscores
        (photos / name).mkdir(parents=True)
        for index in range(AUDIT_PER_CLASS):  # mixes up to 1: some are hard, so some are wrong
            Image.fromarray(_drawn(rng, colour, index / AUDIT_PER_CLASS * 1.1)).save(photos / name / f"{index}.png")
    vm = vizcore.load_model(folder / "colours.keras", scaling="0-1", labels_path=folder / "colours.txt")
    return vm, photos


def _run(vm, photos, out, shard=(0, 1), **options):
    progress = list(audit.audit(vm, photos, out, audit.settings(vm, batch_size=4, **options), shard))
    return progress[-1]


def test_batched_grad_cam_equals_grad_cam_photo_by_photo(tiny_model):
    rng = np.random.default_rng(0)
    photos = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    targets = np.array([-1, 2, -1, 0, 3])  # top-1 or a class of its own, per photo, in one pass
    for method in ("gradcam", "gradcam++", "layercam"):
        result = predict_and_explain(tiny_model, photos, targets, layer="conv_3", method=method, batch_size=8)
        for photo, target, grid in zip(photos, result.targets, result.maps):
            alone = cam.heatmap(tiny_model, photo, class_index=int(target), method=method, layer="conv_3").grid
            np.testing.assert_allclose(grid, alone, atol=2e-5, err_msg=method)
        assert result.targets[1] == 2 and result.targets[3] == 0
    # The comparison can fail: another class's map, one photo at a time, is not the batch's.
    other = cam.heatmap(tiny_model, photos[1], class_index=1, layer="conv_3").grid
    assert not np.allclose(result.maps[1], other, atol=1e-3)


def test_the_second_maps_of_the_same_pass_equal_grad_cam_of_the_second_classes(tiny_model):
    rng = np.random.default_rng(1)
    photos = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    seconds = np.array([1, -1, 3, 0, 2])  # a true class per photo (−1: none, the first map again)
    for method in ("gradcam", "gradcam++", "scorecam"):
        result = predict_and_explain(tiny_model, photos, np.full(5, -1), layer="conv_3", method=method,
                                     batch_size=8, seconds=seconds)  # fmt: skip
        for at, (photo, second) in enumerate(zip(photos, seconds)):
            wanted = result.targets[at] if second < 0 else second
            alone = cam.heatmap(tiny_model, photo, class_index=int(wanted), method=method, layer="conv_3").grid
            np.testing.assert_allclose(result.second_maps[at], alone, atol=2e-5, err_msg=f"{method} photo {at}")
        np.testing.assert_array_equal(result.second_maps[1], result.maps[1])
        differs = [at for at in range(5) if seconds[at] >= 0 and seconds[at] != result.targets[at]]
        assert differs and all(not np.allclose(result.second_maps[at], result.maps[at]) for at in differs)


def _reference(vm, photos):
    """Accuracy, confusion, F1 and ECE computed here, straight from the Keras model, with loops."""
    true, confidence, predicted = [], [], []
    for colour, name in enumerate(("Red", "GREEN", "b_l_u_e")):
        for path in sorted((photos / name).glob("*.png")):
            probabilities = vm.keras(np.asarray(Image.open(path), np.float32)[None] / 255.0).numpy()[0]
            true.append(colour), predicted.append(int(np.argmax(probabilities)))
            confidence.append(float(np.max(probabilities)))
    true, predicted, confidence = np.array(true), np.array(predicted), np.array(confidence)
    confusion = [[int(np.sum((true == t) & (predicted == p))) for p in range(3)] for t in range(3)]
    f1 = {}
    for c in range(3):
        tp, fp, fn = (
            confusion[c][c],
            sum(confusion[t][c] for t in range(3)) - confusion[c][c],
            sum(confusion[c]) - confusion[c][c],
        )
        f1[CLASSES[c]] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    ece = 0.0
    for m in range(15):
        members = (confidence > m / 15) & (confidence <= (m + 1) / 15)
        if members.any():
            ece += (
                members.sum()
                / len(true)
                * abs(np.mean(true[members] == predicted[members]) - confidence[members].mean())
            )
    return float(np.mean(true == predicted)), confusion, f1, ece


def test_a_trained_model_on_a_labelled_folder_equals_numpy_references(trained, tmp_path):
    vm, photos = trained
    _run(vm, photos, tmp_path / "out")
    measures = audit.finish(tmp_path / "out").measures
    accuracy, confusion, f1, ece = _reference(vm, photos)
    assert 0.5 < accuracy < 1.0, "the drawn set should be learnt, and hard enough to get some wrong"
    assert measures["images"] == 3 * AUDIT_PER_CLASS and measures["accuracy"] == pytest.approx(accuracy)
    assert measures["classes"] == list(CLASSES) and measures["confusion"] == confusion
    assert {name: v["f1"] for name, v in measures["per_class"].items()} == pytest.approx(f1)
    assert measures["ece"] == pytest.approx(ece, abs=1e-6)
    rows = pq.read_table(tmp_path / "out" / "audit.parquet").to_pylist()
    wrong = [row for row in rows if row["correct"] is False]
    assert wrong and all(row["true_map"] is not None for row in wrong)
    assert all(row["true_map"] is None for row in rows if row["correct"])
    assert all(len(row["map"]) == row["map_height"] * row["map_width"] == 16 * 16 for row in rows)


def test_shards_merged_equal_the_whole_run(trained, tmp_path):
    vm, photos = trained
    _run(vm, photos, tmp_path / "whole")
    whole = audit.finish(tmp_path / "whole")
    for index in range(3):
        _run(vm, photos, tmp_path / "sharded", shard=(index, 3))
    merged = audit.finish(tmp_path / "sharded")
    for key in ("images", "accuracy", "classes", "confusion", "per_class", "skipped"):
        assert merged.measures[key] == whole.measures[key], key
    a, b = (pq.read_table(tmp_path / name / "audit.parquet").to_pydict() for name in ("whole", "sharded"))
    assert a["path"] == b["path"] and a["key"] == b["key"] and a["pred_index"] == b["pred_index"]
    np.testing.assert_allclose(np.array(a["map"]), np.array(b["map"]), atol=1e-5)
    assert merged.measures["accuracy"] == whole.measures["accuracy"] and merged.measures["ece"] == pytest.approx(
        whole.measures["ece"]
    )


def test_a_merge_refuses_missing_shards(trained, tmp_path):
    vm, photos = trained
    _run(vm, photos, tmp_path / "out", shard=(1, 3))
    with pytest.raises(vizcore.RequestError, match="Shards 0/3, 2/3 have not finished"):
        audit.finish(tmp_path / "out")


def test_a_stopped_run_resumes_without_computing_finished_photos(trained, tmp_path):
    vm, photos = trained
    out = tmp_path / "out"
    run = audit.audit(vm, photos, out, audit.settings(vm, batch_size=4))
    next(run), next(run), next(run)  # two batches stored, then the run is stopped
    run.close()
    resumed = _run(vm, photos, out)
    assert resumed.total == 3 * AUDIT_PER_CLASS and resumed.computed == resumed.total - 8
    Image.fromarray(np.zeros((SIDE, SIDE, 3), np.uint8)).save(photos.parent / "changed.png")
    (photos / "Red" / "0.png").write_bytes((photos.parent / "changed.png").read_bytes())  # a photo changed
    assert _run(vm, photos, out).computed == 1  # only the changed photo is computed again
    assert audit.finish(out).measures["images"] == 3 * AUDIT_PER_CLASS


def test_bad_files_are_skipped_and_named_never_fatal(tiny_model, tmp_path, samples):
    photos = tmp_path / "photos"
    (photos / "zero").mkdir(parents=True)
    Image.fromarray(samples["cat"]).resize((40, 40)).save(photos / "zero" / "cat.png")
    (photos / "zero" / "notes.jpg").write_text("not a photo")
    (photos / "zero" / "empty.png").write_bytes(b"")
    bomb = Image.new("1", (10_000, 10_000))  # 100 million pixels declared: refused before decoding
    bomb.save(photos / "zero" / "bomb.png")
    last = _run(tiny_model, photos, tmp_path / "out")
    assert last.skipped == 3 and last.done == 4
    skipped = {s["path"]: s["reason"] for s in audit.finish(tmp_path / "out").measures["skipped"]}
    assert set(skipped) == {"zero/notes.jpg", "zero/empty.png", "zero/bomb.png"}
    assert "decompression bomb" in skipped["zero/bomb.png"] and "empty" in skipped["zero/empty.png"]


def _user_model(tmp_path, units: int, activation: str, name: str):
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(units, activation=activation, name="out")(x))
    model.save(tmp_path / f"{name}.keras")
    return vizcore.load_model(tmp_path / f"{name}.keras", scaling="0-1")


def _csv_folder(tmp_path, samples, labels: list[str]):
    photos = tmp_path / "photos"
    photos.mkdir()
    names = sorted(samples)
    for name in names:
        Image.fromarray(samples[name]).resize((24, 24)).save(photos / f"{name}.png")
    (photos / "labels.csv").write_text("".join(f"{n}.png,{label}\n" for n, label in zip(names, labels)))
    return photos / "labels.csv"


def test_binary_multilabel_and_regression_heads_get_their_own_measures(tmp_path, samples):
    binary = _user_model(tmp_path, 1, "sigmoid", "binary")
    table = _csv_folder(tmp_path, samples, ["positive", "negative", "1", "0", "positive"])
    _run(binary, table, tmp_path / "binary")
    measures = audit.finish(tmp_path / "binary").measures
    rows = pq.read_table(tmp_path / "binary" / "audit.parquet").to_pylist()
    truth = {"astronaut": 1, "cat": 0, "coffee": 1, "grace_hopper": 0, "rocket": 1}
    assert measures["accuracy"] == pytest.approx(np.mean([(r["pred_index"] == truth[r["path"][:-4]]) for r in rows]))
    assert all(
        (r["pred_index"] == 1) == (r["top_scores"][0] > 0.5 if r["top_indices"][0] == 1 else r["top_scores"][0] < 0.5)
        for r in rows
    )

    multilabel = _user_model(tmp_path, 3, "sigmoid", "multi")
    table.write_text(
        "".join(f"{n}.png,{labels}\n" for n, labels in zip(sorted(samples), ["0;2", "1", "", "2", "0;1;2"]))
    )
    _run(multilabel, table, tmp_path / "multi")
    measures = audit.finish(tmp_path / "multi").measures
    assert set(measures["per_class"]) == {"class 0", "class 1", "class 2"} and measures["labelled"] == 4
    assert (
        measures["confusion"] is None
        and measures["reliability"]["count"]
        and sum(measures["reliability"]["count"]) == 12
    )

    regression = _user_model(tmp_path, 1, "linear", "value")
    targets = [1.0, 2.0, 0.5, -1.0, 3.0]
    table.write_text("".join(f"{n}.png,{t}\n" for n, t in zip(sorted(samples), targets)))
    _run(regression, table, tmp_path / "value")
    measures = audit.finish(tmp_path / "value").measures
    values = np.array([r["outputs"][0] for r in pq.read_table(tmp_path / "value" / "audit.parquet").to_pylist()])
    truth = np.array(targets)
    assert measures["mae"] == pytest.approx(np.mean(np.abs(values - truth)))
    assert measures["r2"] == pytest.approx(1 - np.sum((truth - values) ** 2) / np.sum((truth - truth.mean()) ** 2))
    assert measures["accuracy"] is None and measures["ece"] is None


def test_cli_json_has_the_issue_keys_and_report_is_self_contained(trained, tmp_path, capsys):
    vm, photos = trained
    model = str(photos.parent / "colours.keras")
    args = [
        "audit",
        model,
        str(photos),
        "--out",
        str(tmp_path / "out"),
        "--scaling",
        "0-1",
        "--labels",
        str(photos.parent / "colours.txt"),
        "--batch",
        "8",
        "--json",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert {"images", "skipped", "accuracy", "per_class", "confusion", "classes", "ece", "reliability"} <= set(payload)
    assert set(payload["reliability"]) == {"bins", "accuracy", "confidence", "count"}
    assert set(payload["per_class"]["red"]) == {"precision", "recall", "f1", "support"}
    assert "24/24" in captured.err and "left" in captured.err
    report = (tmp_path / "out" / "report.html").read_text()
    assert "data:image/png;base64," in report and "http://" not in report and "https://" not in report
    assert "<script" not in report and "Confidently wrong" in report and "Calibration" in report


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda tmp: ["audit", "efficientnet_lite0", str(tmp / "nope"), "--out", str(tmp / "o")], "No folder at"),
        (lambda tmp: ["audit", "efficientnet_lite0", str(tmp), "--out", str(tmp / "o")], "No photos in"),
        (lambda tmp: ["audit", "efficientnet_lite0"], "audit needs MODEL, FOLDER and --out DIR"),
        (lambda tmp: ["audit", "--merge", str(tmp)], "is not an audit folder"),
        (lambda tmp: ["audit", "efficientnet_lite0", str(tmp), "--out", str(tmp / "o"), "--shard", "4/4"], "0 ≤ I < N"),
        (
            lambda tmp: ["audit", "efficientnet_lite0", str(tmp), "--out", str(tmp / "o"), "--batch", "0"],
            "--batch must be",
        ),
        (
            lambda tmp: ["audit", "efficientnet_lite0", str(tmp), "--out", str(tmp / "o"), "--method", "x"],
            "Unknown method",
        ),
    ],
)
def test_cli_errors_are_one_line(tmp_path, capsys, make, words):
    assert main(make(tmp_path)) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and words in lines[0] and "Traceback" not in captured.err, captured.err


def test_a_model_without_a_class_vector_is_refused_in_words(tmp_path, capsys):
    import keras

    inputs = keras.Input((16, 16, 3))
    keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs)).save(tmp_path / "maps.keras")
    Image.new("RGB", (16, 16)).save(tmp_path / "a.png")
    assert main(["audit", str(tmp_path / "maps.keras"), str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "does not output a class vector" in capsys.readouterr().err


def test_lite0_names_a_real_photo_in_its_imagenet_synset_folder(lite0, tmp_path, samples):
    photos = tmp_path / "photos"
    (photos / "n04591713").mkdir(parents=True)  # wine bottle: a wrong label, to see the true class's map
    (photos / "military_uniform").mkdir()
    Image.fromarray(samples["grace_hopper"]).save(photos / "military_uniform" / "hopper.png")
    Image.fromarray(samples["grace_hopper"]).save(photos / "n04591713" / "hopper.png")
    _run(lite0, photos, tmp_path / "out")
    measures = audit.finish(tmp_path / "out").measures
    assert measures["classes"] == ["military uniform", "wine bottle"] and measures["confusion"] == [[1, 0], [1, 0]]
    rows = pq.read_table(tmp_path / "out" / "audit.parquet").to_pylist()
    assert all(row["pred_index"] == 652 for row in rows) and rows[1]["true_map"] is not None


def test_audited_photos_are_the_photos_read_spread_evenly_and_never_the_skipped(trained, tmp_path):
    vm, photos = trained
    folder = tmp_path / "photos"
    for path in sorted(photos.rglob("*.png")):
        (folder / path.parent.name).mkdir(parents=True, exist_ok=True)
        (folder / path.parent.name / path.name).write_bytes(path.read_bytes())
    (folder / "Red" / "broken.png").write_bytes(b"not a png")
    _run(vm, folder, tmp_path / "out")
    audit.finish(tmp_path / "out")
    every = audit.audited_photos(tmp_path / "out")
    assert every == sorted(p for p in folder.rglob("*.png") if p.name != "broken.png")  # skipped: left out
    spread = audit.audited_photos(tmp_path / "out", limit=6)
    assert len(spread) == 6 and {p.parent.name for p in spread} == {"Red", "GREEN", "b_l_u_e"}  # every class
    (folder / "GREEN" / "0.png").unlink()
    assert folder / "GREEN" / "0.png" not in audit.audited_photos(tmp_path / "out")  # removed since: left out


def test_why_takes_its_example_patches_from_an_audited_folder(lite0, tmp_path, samples, capsys):
    photos = tmp_path / "photos"
    (photos / "espresso").mkdir(parents=True)
    Image.fromarray(samples["coffee"]).save(photos / "espresso" / "my_coffee.png")
    Image.fromarray(samples["cat"]).save(photos / "espresso" / "my_cat.png")
    _run(lite0, photos, tmp_path / "out")
    audit.finish(tmp_path / "out")
    capsys.readouterr()
    image = tmp_path / "coffee.png"
    Image.fromarray(samples["coffee"]).save(image)
    out = str(tmp_path / "out")
    assert main(["why", "efficientnet_lite0", str(image), "--top", "2", "--audit", out, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    files = {example["file"] for row in payload["channels"] for example in row["examples"]}
    assert payload["examples_indexed"] == 2 and files
    assert files <= {str(photos / "espresso" / "my_coffee.png"), str(photos / "espresso" / "my_cat.png")}
