"""A self-contained HTML report of an audit: the summary, its charts and its galleries in one file.

Every image is inlined as a base64 PNG (charts drawn with matplotlib's Agg backend, photos with
their maps blended on top), there are no scripts, fonts or links to fetch: the file opens offline
in any browser and can be mailed as it is. Photos are read again from the audited folder for the
galleries; one that is gone shows its map alone.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..drawing import colorize, overlay, png_bytes, resized_map  # noqa: E402
from ..errors import ImageError  # noqa: E402
from ..images import load_image  # noqa: E402
from .summary import GALLERIES, Summary  # noqa: E402

REPORT = "report.html"
THUMBNAIL = 168  # px: the longer side of a gallery photo
MAX_MATRIX_CLASSES = 30  # the confusion matrix shows the classes with the most photos, at most this many
MAX_MEAN_MAPS = 40  # mean maps shown, classes with the most photos first
DPI = 110  # charts' resolution
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px auto;max-width:1100px;color:#222;
padding:0 16px}
h1{font-size:1.6em;margin-bottom:0}h2{margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:4px}
.meta{color:#666}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{background:#f4f6f8;border-radius:8px;padding:10px 16px;min-width:120px}
.card b{display:block;font-size:1.5em}table{border-collapse:collapse;font-size:.9em}
td,th{padding:3px 10px;border-bottom:1px solid #eee;text-align:right}td:first-child,th:first-child{text-align:left}
.gallery{display:flex;flex-wrap:wrap;gap:10px}.photo{width:176px;font-size:.78em;line-height:1.3}
.photo.wide{width:352px}.photo img{display:block;border-radius:4px;max-width:100%}
.wrong{color:#b00}.path{color:#666;word-break:break-all}
.charts img{max-width:100%}
"""


def write_report(out: Path, summary: Summary, manifest: dict) -> Path:
    """Write ``out/report.html`` and return its path."""
    path = Path(out) / REPORT
    path.write_text(report_html(summary, manifest), encoding="utf-8")
    return path


def charts(summary: Summary) -> list[tuple[str, bytes]]:
    """(title, PNG) of each chart the summary has: confusion matrix, reliability diagram, mean maps."""
    measures, found = summary.measures, []
    if measures.get("confusion"):
        found.append(("Confusion matrix", _confusion_chart(measures)))
    if measures.get("reliability"):
        found.append(("Calibration", _reliability_chart(measures["reliability"])))
    if summary.mean_maps:
        found.append(("Mean map per class", _mean_maps_chart(summary.mean_maps)))
    return found


def gallery_picture(entry: dict, root: Path) -> np.ndarray:
    """A gallery photo with its predicted class's map on top (and the true class's beside it when wrong)."""
    photo = _thumbnail(Path(root) / entry["path"])
    images = [_blend(photo, entry["map"])]
    if entry["true_map"] is not None:
        images.append(_blend(photo, entry["true_map"]))
    return images[0] if len(images) == 1 else _side_by_side(images)


def report_html(summary: Summary, manifest: dict) -> str:
    """The report as one HTML document."""
    measures = summary.measures
    sections = [_header(measures, manifest), _cards(measures)]
    if measures.get("confusion"):
        sections.append(_section("Confusion matrix", _image(_confusion_chart(measures))))
    if measures.get("reliability"):
        sections.append(_section("Calibration", _image(_reliability_chart(measures["reliability"]), "charts")))
    if measures.get("per_class"):
        sections.append(_section("Per class", _per_class_table(measures["per_class"])))
    if summary.mean_maps:
        sections.append(_section("Mean map per class", _image(_mean_maps_chart(summary.mean_maps))))
    root = Path(manifest.get("root", "."))
    for name, entries in summary.galleries.items():
        sections.append(_section(GALLERIES[name], _gallery(entries, root)))
    if measures["skipped"]:
        sections.append(_section(f"Skipped ({len(measures['skipped'])})", _skipped(measures["skipped"])))
    title = f"Audit of {manifest['model']}"
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>{''.join(sections)}</body></html>"
    )


def _header(measures: dict, manifest: dict) -> str:
    setting = f"{measures['method']} on {measures['layer']}" + (
        " · deletion/insertion measured" if measures["metrics"] else ""
    )
    return (
        f"<h1>Audit of {html.escape(manifest['model'])}</h1>"
        f'<p class="meta">{html.escape(manifest["source"])} · {html.escape(manifest["head"])} head · '
        f"{html.escape(setting)}</p>"
    )


def _cards(measures: dict) -> str:
    shown = [("photos", str(measures["images"])), ("skipped", str(len(measures["skipped"])))]
    if measures.get("accuracy") is not None:
        shown.append(("accuracy", f"{measures['accuracy']:.1%}"))
    if measures.get("ece") is not None:
        shown.append(("ECE (15 bins)", f"{measures['ece']:.3f}"))
    for key in ("mae", "r2"):
        if measures.get(key) is not None:
            shown.append((key.upper() if key == "mae" else "R²", f"{measures[key]:.4g}"))
    if not measures.get("labelled"):
        shown.append(("labels", "none: predictions only"))
    cards = "".join(f'<div class="card"><b>{html.escape(v)}</b>{html.escape(k)}</div>' for k, v in shown)
    return f'<div class="cards">{cards}</div>'


def _section(title: str, body: str) -> str:
    return f"<h2>{html.escape(title)}</h2>{body}"


def _image(png: bytes, css: str = "") -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<div class="{css}"><img alt="" src="data:image/png;base64,{encoded}"></div>'


def _figure_png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def _confusion_chart(measures: dict) -> bytes:
    """The confusion matrix as counts, rows normalised for colour; the busiest classes when there are many."""
    matrix, names = np.array(measures["confusion"]), list(measures["classes"])
    if len(names) > MAX_MATRIX_CLASSES:
        busiest = np.sort(np.argsort(-(matrix.sum(0) + matrix.sum(1)), kind="stable")[:MAX_MATRIX_CLASSES])
        matrix, names = matrix[np.ix_(busiest, busiest)], [names[i] for i in busiest]
    side = max(4.0, 0.42 * len(names) + 2)
    figure, axes = plt.subplots(figsize=(side, side))
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for (row, col), count in np.ndenumerate(matrix):
        if count:
            axes.text(col, row, str(count), ha="center", va="center", fontsize=8,
                      color="white" if shares[row, col] > 0.5 else "black")  # fmt: skip
    axes.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    axes.set_yticks(range(len(names)), names, fontsize=8)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    return _figure_png(figure)


def _reliability_chart(reliability: dict) -> bytes:
    """Reliability diagram: accuracy per confidence bin against the diagonal, with the bins' counts below."""
    edges = np.array(reliability["bins"])
    centres, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    accuracy = np.array([np.nan if a is None else a for a in reliability["accuracy"]])
    confidence = np.array([np.nan if c is None else c for c in reliability["confidence"]])
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 6), height_ratios=(3, 1), sharex=True)
    top.bar(centres, np.nan_to_num(accuracy), width=width, edgecolor="#225", color="#4a7ab5", label="accuracy")
    top.bar(centres, np.nan_to_num(confidence - accuracy), bottom=np.nan_to_num(accuracy), width=width,
            color="#e88", alpha=0.6, edgecolor="#a33", label="gap to confidence")  # fmt: skip
    top.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    top.set_ylabel("accuracy")
    top.set_ylim(0, 1)
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centres, reliability["count"], width=width, color="#999", edgecolor="#555")
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("photos")
    bottom.set_xlim(0, 1)
    return _figure_png(figure)


def _mean_maps_chart(mean_maps: dict[str, np.ndarray]) -> bytes:
    names = list(mean_maps)[:MAX_MEAN_MAPS]
    columns = min(8, len(names))
    rows = -(-len(names) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(1.5 * columns, 1.7 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, name in zip(axes.ravel(), names):
        ax.imshow(mean_maps[name], cmap="jet", vmin=0, vmax=1)
        ax.set_title(name[:18], fontsize=8)
    return _figure_png(figure)


def _per_class_table(per_class: dict) -> str:
    head = "<tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>photos</th></tr>"
    body = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{v['precision']:.3f}</td><td>{v['recall']:.3f}</td>"
        f"<td>{v['f1']:.3f}</td><td>{v['support']}</td></tr>"
        for name, v in per_class.items()
    )
    return f"<table>{head}{body}</table>"


def _gallery(entries: list[dict], root: Path) -> str:
    return '<div class="gallery">' + "".join(_photo_card(entry, root) for entry in entries) + "</div>"


def _photo_card(entry: dict, root: Path) -> str:
    """A photo with its predicted class's map blended on top (and the true class's map when wrong)."""
    picture = gallery_picture(entry, root)
    wide = " wide" if entry["true_map"] is not None else ""
    lines = [f"predicted <b>{html.escape(entry['predicted'])}</b>"
             + (f" {entry['confidence']:.0%}" if entry["confidence"] is not None else "")]  # fmt: skip
    if entry["label"] is not None and entry["label"] != entry["predicted"]:
        lines.append(f'<span class="wrong">true {html.escape(entry["label"])}</span> (its map on the right)')
    if entry["border_share"] is not None and not np.isnan(entry["border_share"]):
        lines.append(f"border share {entry['border_share']:.0%}")
    if entry["deletion"] is not None:
        lines.append(f"deletion {entry['deletion']:.2f} · insertion {entry['insertion']:.2f}")
    lines.append(f'<span class="path">{html.escape(entry["path"])}</span>')
    encoded = base64.b64encode(png_bytes(picture)).decode("ascii")
    return f'<div class="photo{wide}"><img alt="" src="data:image/png;base64,{encoded}">{"<br>".join(lines)}</div>'


def _thumbnail(path: Path) -> np.ndarray | None:
    try:
        return load_image(path, max_side=THUMBNAIL)
    except ImageError:
        return None


def _blend(photo: np.ndarray | None, grid: np.ndarray) -> np.ndarray:
    if photo is None:  # the photo is gone: the map alone
        return colorize(resized_map(grid, (THUMBNAIL // 2, THUMBNAIL // 2)))
    return overlay(photo, grid)


def _side_by_side(images: list[np.ndarray]) -> np.ndarray:
    height = max(image.shape[0] for image in images)
    padded = [np.pad(image, ((0, height - image.shape[0]), (0, 4), (0, 0)), constant_values=255) for image in images]
    return np.concatenate(padded, axis=1)[:, :-4]


def _skipped(skipped: list[dict]) -> str:
    items = "".join(f"<li><b>{html.escape(s['path'])}</b>: {html.escape(s['reason'])}</li>" for s in skipped)
    return f"<ul>{items}</ul>"
