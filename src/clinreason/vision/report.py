"""The segmentation run's self-contained report.html: the metrics table, training curves and, for each
test slice, the ground truth and every method's prediction over the image with its reasoning text."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import numpy as np

from clinreason.evaluate.figures import figure_html, pyplot
from clinreason.evaluate.report import CSS
from clinreason.evaluate.tables import fmt
from clinreason.vision.data import Slice2D
from clinreason.vision.results import TITLES, SegmentSummary
from clinreason.vision.train import Method

__all__ = ["curves_html", "overlay_html", "render_report"]


def overlay_html(image: np.ndarray, truth: np.ndarray, predictions: Mapping[Method, np.ndarray]) -> str:
    plt = pyplot()
    figure, axes = plt.subplots(1, 1 + len(predictions), figsize=(2.2 * (1 + len(predictions)), 2.4))
    axes = np.atleast_1d(axes)
    panels = [("ground truth", truth), *[(TITLES[m], p > 0.5) for m, p in predictions.items()]]
    for axis, (title, mask) in zip(axes, panels, strict=True):
        axis.imshow(image.T, cmap="gray")
        if mask.any():
            axis.contour(
                mask.T.astype(float), levels=[0.5], colors=["#00d000" if title == "ground truth" else "#ff3030"]
            )
        axis.set_title(title, fontsize=7)
        axis.axis("off")
    return figure_html(figure, alt="overlay", dpi=100)


def curves_html(histories: Mapping[Method, Sequence[Mapping[str, float]]]) -> str:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5, 3))
    for method, history in histories.items():
        axis.plot([h["epoch"] for h in history], [h["supervised"] for h in history], label=TITLES[method])
    axis.set_xlabel("epoch")
    axis.set_ylabel("supervised loss")
    axis.legend(fontsize=7)
    return figure_html(figure, alt="curves", dpi=100)


def render_report(
    summary: SegmentSummary,
    test: Sequence[Slice2D],
    probabilities: Mapping[Method, Mapping[str, np.ndarray]],
    texts: Mapping[str, str],
    histories: Mapping[Method, Sequence[Mapping[str, float]]],
) -> str:
    rows = []
    for method, m in summary.methods.items():
        rows.append(
            f"<tr><td>{TITLES[method]}</td><td>{fmt(m.dice)} ± {fmt(m.dice_std)}</td><td>{fmt(m.iou)}</td>"
            f"<td>{fmt(m.hd95, 1)}</td><td>{fmt(m.asd, 1)}</td><td>{m.missed}</td><td>{m.false_positive}</td>"
            f"<td>{m.both_empty}</td><td>{fmt(m.train_seconds, 0)}</td></tr>"
        )
    table = (
        "<table><tr><th>method</th><th>Dice ± sd</th><th>IoU</th><th>HD95 (mm)</th><th>ASD (mm)</th><th>missed</th>"
        "<th>false positive</th><th>both empty</th><th>training s</th></tr>" + "".join(rows) + "</table>"
    )
    per_case = {method: {c.case_id: c for c in m.per_case} for method, m in summary.methods.items()}
    head = "".join(f"<th>{html.escape(TITLES[m])}: Dice / HD95</th>" for m in per_case)
    case_rows = []
    for s in test:
        cells = []
        for method in per_case:
            case = per_case[method].get(s.id)
            cells.append(
                f"<td>{fmt(case.dice)} / {fmt(case.hd95, 1)} ({html.escape(case.kind.replace('_', ' '))})</td>"
                if case
                else "<td>–</td>"
            )
        lesion = "yes" if s.mask.any() else "no"
        case_rows.append(f"<tr><td>{html.escape(s.id)}</td><td>{lesion}</td>{''.join(cells)}</tr>")
    case_table = (
        f"<h2>Per test slice</h2><table><tr><th>slice</th><th>lesion</th>{head}</tr>{''.join(case_rows)}</table>"
    )
    cases = []
    for s in test:
        overlay = overlay_html(s.image, s.mask, {m: p[s.id] for m, p in probabilities.items()})
        cases.append(
            f"<div class=patient><b>{html.escape(s.id)}</b> ({html.escape(s.modality)}, {html.escape(s.anatomy)})"
            f"<br>{overlay}<div class=rationale>{html.escape(texts.get(s.id, ''))}</div></div>"
        )
    notes = (
        "Missed lesions and false positives count in every mean (Dice 0, distances = the image diagonal); "
        "the reasoning of test slices comes from the supervised model's prediction, never from their masks."
    )
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>clinreason segment</title><style>{CSS}</style>"
        f"</head><body><h1>Segmentation: {html.escape(summary.data)}</h1>"
        f"<p class=muted>{summary.labelled} labelled, {summary.unlabelled} unlabelled, {summary.test} test "
        f"slices; label ratio {summary.label_ratio}; seed {summary.seed}; reasoning by "
        f"{html.escape(summary.reasoning.teacher)}</p>{table}<p class=muted>{notes}</p>{case_table}"
        f"<h2>Training</h2>{curves_html(histories)}<h2>Test slices</h2>"
        "<p class=muted>green: ground truth; red: prediction. The text is the slice's reasoning.</p>"
        + "".join(cases)
        + "</body></html>"
    )
