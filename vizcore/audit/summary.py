"""The audit's summary: how right the model is, how well calibrated, where it looks, which photos to see.

Every measure is a small NumPy function of plain arrays (tested against hand computations);
:func:`summarise` applies them to an audit's rows according to the model's head:

* single-label heads (softmax, logits, binary at 0.5): accuracy, per-class precision, recall and F1,
  the confusion matrix, and calibration: the expected calibration error over 15 equal-width
  confidence bins and the reliability diagram (Guo et al., 2017, Sec. 2, Eq. 3);
* multi-label: exact-match accuracy, per-label precision, recall and F1 at 0.5, calibration over
  every (photo, label) decision with confidence max(p, 1 − p);
* regression: mean absolute error and R² per output.

Galleries pick the photos worth a look: confidently wrong, least confident right, most off-object
maps (the largest share of the map on the photo's border) and, with ``--metrics``, least faithful
maps (lowest insertion − deletion AUC).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

ECE_BINS = 15  # equal-width confidence bins (Guo et al., 2017)
GALLERY_SIZE = 12  # photos per gallery
GALLERIES = {  # name: title
    "confidently_wrong": "Confidently wrong",
    "least_confident_right": "Least confident right",
    "most_off_object": "Most off-object maps (map mass on the photo's border)",
    "least_faithful": "Least faithful maps (lowest insertion − deletion AUC)",
}


# --- measures: plain arrays in, numbers out ----------------------------------------------------


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Counts (len(classes), len(classes)): rows the true class, columns the predicted, in ``classes`` order."""
    position = {int(c): at for at, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), np.int64)
    for t, p in zip(true, predicted):
        matrix[position[int(t)], position[int(p)]] += 1
    return matrix


def precision_recall_f1(confusion: np.ndarray) -> dict[str, np.ndarray]:
    """Per class, from a confusion matrix: precision tp/(tp+fp), recall tp/(tp+fn), F1 their harmonic
    mean, and support (true count). A ratio with nothing to count is 0 (as scikit-learn's default)."""
    tp = np.diag(confusion).astype(np.float64)
    return _from_counts(tp, confusion.sum(axis=0) - tp, confusion.sum(axis=1) - tp)


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Accuracy, mean confidence and count per equal-width bin ((m−1)/M, m/M], and the ECE.

    ECE = Σ_m |B_m| / n · |acc(B_m) − conf(B_m)| (Guo et al., 2017, Eq. 3); an empty bin's
    accuracy and confidence are None. A confidence of exactly 0 falls in the first bin.
    """
    confidence, correct = np.asarray(confidence, np.float64), np.asarray(correct, np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    summed_conf = np.bincount(which, weights=confidence, minlength=bins)
    summed_acc = np.bincount(which, weights=correct, minlength=bins)
    filled = count > 0
    accuracy = np.divide(summed_acc, count, out=np.zeros(bins), where=filled)
    mean_conf = np.divide(summed_conf, count, out=np.zeros(bins), where=filled)
    ece = float(np.sum(count * np.abs(accuracy - mean_conf)) / max(len(confidence), 1))
    return {
        "bins": edges.round(6).tolist(),
        "accuracy": [float(a) if f else None for a, f in zip(accuracy, filled)],
        "confidence": [float(c) if f else None for c, f in zip(mean_conf, filled)],
        "count": count.tolist(),
        "ece": ece if len(confidence) else None,
    }


def regression_errors(true: np.ndarray, predicted: np.ndarray) -> dict[str, list[float]]:
    """Per output (columns): mean absolute error and R² = 1 − SS_res / SS_tot (NaN for a constant target)."""
    residual = ((true - predicted) ** 2).sum(axis=0)
    total = ((true - true.mean(axis=0)) ** 2).sum(axis=0)
    r2 = np.where(total > 0, 1.0 - residual / np.where(total > 0, total, 1.0), np.nan)
    return {"mae": np.abs(true - predicted).mean(axis=0).tolist(), "r2": r2.tolist()}


# --- the summary of an audit's rows --------------------------------------------------------------


@dataclass
class Summary:
    """The numbers (``measures``: the JSON the CLI prints), mean maps and galleries for the report."""

    measures: dict
    mean_maps: dict[str, np.ndarray] = field(default_factory=dict)  # class name → mean map (h, w)
    galleries: dict[str, list[dict]] = field(default_factory=dict)  # gallery name → photo entries


def summarise(table: pa.Table, manifest: dict) -> Summary:
    """The summary of an audit's merged rows (vizcore.audit.store) for the model its manifest names."""
    rows = table.to_pydict()
    ok = [at for at, error in enumerate(rows["error"]) if error is None]
    skipped = [{"path": path, "reason": error} for path, error in zip(rows["path"], rows["error"]) if error is not None]
    names, kind = manifest["classes"], manifest["head"]
    measures: dict = {
        "model": manifest["model"],
        "head": kind,
        **manifest["settings"],
        "images": len(ok),
        "skipped": skipped,
        "labelled": 0,
        "accuracy": None,
        "per_class": {},
        "confusion": None,
        "classes": [],
        "ece": None,
        "reliability": None,
    }
    if kind == "regression":
        measures.update(_regression(rows, ok, names))
    elif kind == "multilabel":
        measures.update(_multilabel(rows, ok, names))
    else:
        measures.update(_single_label(rows, ok, names))
    return Summary(measures, _mean_maps(rows, ok, names, kind), _galleries(rows, ok, names))


def _single_label(rows: dict, ok: list[int], names: list[str]) -> dict:
    labelled = [at for at in ok if rows["true_index"][at] is not None]
    predicted_all = np.array([rows["pred_index"][at] for at in ok], np.int64)
    if not labelled:
        classes = np.unique(predicted_all)
        counts = {names[c]: int((predicted_all == c).sum()) for c in classes}
        return {"predicted": counts}
    true = np.array([rows["true_index"][at] for at in labelled], np.int64)
    predicted = np.array([rows["pred_index"][at] for at in labelled], np.int64)
    classes = np.union1d(true, predicted)
    confusion = confusion_matrix(true, predicted, classes)
    scores = precision_recall_f1(confusion)
    calibration = reliability(np.array([rows["confidence"][at] for at in labelled]), true == predicted)
    return {
        "labelled": len(labelled),
        "accuracy": float(np.mean(true == predicted)),
        "per_class": _per_class(scores, [names[c] for c in classes]),
        "confusion": confusion.tolist(),
        "classes": [names[c] for c in classes],
        "ece": calibration.pop("ece"),
        "reliability": calibration,
    }


def _multilabel(rows: dict, ok: list[int], names: list[str]) -> dict:
    labelled = [at for at in ok if rows["true_labels"][at] is not None]
    if not labelled:
        return {}
    probabilities = np.array([rows["outputs"][at] for at in labelled], np.float64)
    truth = np.zeros_like(probabilities, dtype=bool)
    for row, at in enumerate(labelled):
        truth[row, rows["true_labels"][at]] = True
    decided = probabilities > 0.5
    tp = (decided & truth).sum(axis=0).astype(np.float64)
    fp = (decided & ~truth).sum(axis=0).astype(np.float64)
    fn = (~decided & truth).sum(axis=0).astype(np.float64)
    scores = _from_counts(tp, fp, fn)
    calibration = reliability(np.maximum(probabilities, 1 - probabilities).ravel(), (decided == truth).ravel())
    return {
        "labelled": len(labelled),
        "accuracy": float(np.mean(np.all(decided == truth, axis=1))),
        "per_class": _per_class(scores, names),
        "classes": list(names),
        "ece": calibration.pop("ece"),
        "reliability": calibration,
    }


def _from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support from per-class true positive, false positive and false negative counts."""
    precision = np.divide(tp, tp + fp, out=np.zeros_like(tp), where=tp + fp > 0)
    recall = np.divide(tp, tp + fn, out=np.zeros_like(tp), where=tp + fn > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(tp), where=both > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": tp + fn}


def _regression(rows: dict, ok: list[int], names: list[str]) -> dict:
    labelled = [at for at in ok if rows["true_values"][at] is not None]
    if not labelled:
        return {}
    true = np.array([rows["true_values"][at] for at in labelled], np.float64)
    predicted = np.array([rows["outputs"][at][: true.shape[1]] for at in labelled], np.float64)
    errors = regression_errors(true, predicted)
    return {
        "labelled": len(labelled),
        "mae": float(np.mean(errors["mae"])),
        "r2": float(np.nanmean(errors["r2"])) if not np.all(np.isnan(errors["r2"])) else None,
        "outputs": {
            name: {"mae": m, "r2": None if np.isnan(r) else r} for name, m, r in zip(names, errors["mae"], errors["r2"])
        },  # fmt: skip
    }


def _per_class(scores: dict[str, np.ndarray], class_names: list[str]) -> dict:
    return {
        name: {
            "precision": float(scores["precision"][at]),
            "recall": float(scores["recall"][at]),
            "f1": float(scores["f1"][at]),
            "support": int(scores["support"][at]),
        }
        for at, name in enumerate(class_names)
    }


def _grid(rows: dict, at: int, column: str = "map") -> np.ndarray | None:
    values = rows[column][at]
    if values is None:
        return None
    return np.asarray(values, np.float32).reshape(rows["map_height"][at], rows["map_width"][at])


def _mean_maps(rows: dict, ok: list[int], names: list[str], kind: str) -> dict[str, np.ndarray]:
    """The mean predicted-class map per true class (per predicted class for unlabelled photos)."""
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    for at in ok:
        true = rows["true_index"][at] if kind not in ("multilabel", "regression") else None
        group = int(true if true is not None else rows["pred_index"][at])
        grid = _grid(rows, at)
        if grid is None:
            continue
        sums[group] = sums.get(group, 0) + grid
        counts[group] = counts.get(group, 0) + 1
    return {names[group]: sums[group] / counts[group] for group in sorted(sums)}


def _galleries(rows: dict, ok: list[int], names: list[str]) -> dict[str, list[dict]]:
    correct = {at: rows["correct"][at] for at in ok}
    wrong = [at for at in ok if correct[at] is False and rows["confidence"][at] is not None]
    right = [at for at in ok if correct[at] is True and rows["confidence"][at] is not None]
    mapped = [at for at in ok if rows["border_share"][at] is not None and not np.isnan(rows["border_share"][at])]
    measured = [at for at in ok if rows["deletion"][at] is not None and rows["insertion"][at] is not None]
    picks = {
        "confidently_wrong": sorted(wrong, key=lambda at: -rows["confidence"][at]),
        "least_confident_right": sorted(right, key=lambda at: rows["confidence"][at]),
        "most_off_object": sorted(mapped, key=lambda at: -rows["border_share"][at]),
        "least_faithful": sorted(measured, key=lambda at: rows["insertion"][at] - rows["deletion"][at]),
    }
    return {name: [_entry(rows, at, names) for at in chosen[:GALLERY_SIZE]] for name, chosen in picks.items() if chosen}


def _entry(rows: dict, at: int, names: list[str]) -> dict:
    """What a gallery shows of a photo."""
    true = rows["true_index"][at]
    return {
        "path": rows["path"][at],
        "label": names[true] if true is not None else None,
        "predicted": names[rows["pred_index"][at]],
        "confidence": rows["confidence"][at],
        "border_share": rows["border_share"][at],
        "deletion": rows["deletion"][at],
        "insertion": rows["insertion"][at],
        "map": _grid(rows, at),
        "true_map": _grid(rows, at, "true_map"),
    }


def photos_where(
    table: pa.Table,
    manifest: dict,
    *,
    true: str | None = None,
    predicted: str | None = None,
    confidence_bin: int | None = None,
    bins: int = ECE_BINS,
    limit: int = GALLERY_SIZE,
) -> list[dict]:
    """The audited photos of one confusion-matrix cell or one reliability bin, as gallery entries.

    ``true`` and ``predicted`` are class names (either may be None: any); ``confidence_bin`` is a
    bin of :func:`reliability` (top-1 confidence in ((m−1)/M, m/M], 0 in the first). Each entry is
    a gallery entry (path, label, predicted, confidence, maps…) with ``pred_index`` and
    ``true_index`` added; most confident first, at most ``limit``.
    """
    rows = table.to_pydict()
    names = manifest["classes"]
    chosen = []
    for at, error in enumerate(rows["error"]):
        if error is not None or rows["pred_index"][at] is None:
            continue
        index = rows["true_index"][at]
        if true is not None and (index is None or names[index] != true):
            continue
        if predicted is not None and names[rows["pred_index"][at]] != predicted:
            continue
        if confidence_bin is not None:
            confidence = rows["confidence"][at]
            if confidence is None or index is None:
                continue
            if min(max(int(np.ceil(confidence * bins)) - 1, 0), bins - 1) != confidence_bin:
                continue
        chosen.append(at)
    chosen.sort(key=lambda at: -(rows["confidence"][at] or 0.0))
    return [
        {**_entry(rows, at, names), "pred_index": rows["pred_index"][at], "true_index": rows["true_index"][at]}
        for at in chosen[:limit]
    ]
