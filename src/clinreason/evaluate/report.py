"""A self-contained report.html: metrics tables, confusion matrices, calibration and training curves,
and a few patients with their rationales' claims highlighted (plots are embedded PNGs; no network)."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from clinreason.evaluate.claims import ClaimReport, check_claims
from clinreason.evaluate.figures import figure_html, heat_colors, pyplot
from clinreason.evaluate.summary import ModelMetrics
from clinreason.evaluate.tables import ResultTable, fmt
from clinreason.records.schema import Cohort, PatientRecord
from clinreason.records.text import record_to_text

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222;
line-height:1.45;padding:0 1rem}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}td,th{border:1px solid #ccc;padding:.3rem .55rem;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
.muted{color:#666;font-size:.9rem}pre{background:#f7f7f7;padding:.6rem;white-space:pre-wrap;font-size:.85rem}
.patient{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}
mark.supported{background:#c9f0c9}mark.wrong{background:#f7b7b7}mark.unsupported{background:#fbdca8}
.rationale{white-space:pre-wrap;font-size:.9rem;background:#fafafa;padding:.5rem;border-left:3px solid #bbb}
img{max-width:100%}.grid{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}
table.confusion td.cm{text-align:center;min-width:3rem;font-weight:600}caption{font-size:.85rem;padding:.2rem}
.notice{border:1px solid #d9a300;background:#fff8e1;color:#4a3500;padding:.4rem .7rem;border-radius:4px}
.verdict{font-size:1.02rem;background:#eef4fb;border-left:4px solid #2b6cb0;padding:.5rem .8rem}
.right{color:#1a6b1a;font-weight:600}.wrong{color:#b00020;font-weight:600}
"""


RESEARCH_USE = (
    "Research use only. This report is not a medical device and its models must not be used for clinical decisions."
)


@dataclass(frozen=True)
class Answer:
    """A model's answer for a patient as the report shows it: the label and a detail such as its
    probability; without a label the detail is shown alone ("written knowing the gold label"), and
    without either, "no usable answer"."""

    label: str | None
    detail: str = ""


@dataclass
class ReportInput:
    title: str
    cohort: Cohort
    split: str
    metrics: Mapping[str, ModelMetrics]
    summary_lines: Sequence[str] = ()
    teacher_lines: Sequence[str] = ()
    histories: Mapping[str, Sequence[Any]] = field(default_factory=dict)  # name -> EvalPoint list
    patients: Sequence[PatientRecord] = ()
    rationales: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # model -> id -> rationale
    predictions: Mapping[str, Mapping[str, Answer]] = field(default_factory=dict)  # model -> id -> answer
    categories: dict[str, set[str]] | None = None
    reference_text: str = ""
    notes: Sequence[str] = ()
    provenance: Sequence[str] = ()  # when, by which version, from which config
    verdict: Sequence[str] = ()  # plain sentences: which model wins


def _ci(metrics: ModelMetrics, name: str) -> str:
    interval = getattr(metrics, f"{name}_ci")
    value = getattr(metrics.diagnosis, name)
    if interval is None:
        return fmt(value)
    return f"{value:.3f} <span class=muted>[{interval.low:.3f}, {interval.high:.3f}]</span>"


def diagnosis_table(metrics: Mapping[str, ModelMetrics]) -> str:
    rows = [
        "<tr><th>model</th><th>kind</th><th>accuracy [95% CI]</th><th>macro-F1 [95% CI]</th><th>AUROC</th>"
        "<th>ECE</th><th>no answer</th><th>fitted rule: accuracy</th><th>fitted rule: macro-F1 [95% CI]</th>"
        "<th>fitted rule</th></tr>"
    ]
    for name, m in metrics.items():
        d, f = m.diagnosis, m.fitted
        fitted = (
            f"<td>{fmt(f.diagnosis.accuracy)}</td><td>{_interval(f.diagnosis.macro_f1, f.macro_f1_ci)}</td>"
            f"<td class=muted>{html.escape(f.rule.describe())}</td>"
            if f is not None
            else "<td>–</td><td>–</td><td>–</td>"
        )
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{m.kind}</td><td>{_ci(m, 'accuracy')}</td>"
            f"<td>{_ci(m, 'macro_f1')}</td><td>{fmt(d.auroc)}</td><td>{fmt(d.ece)}</td>"
            f"<td>{d.no_answer}</td>{fitted}</tr>"
        )
    return (
        "<table>" + "".join(rows) + "</table><p class=muted>Plain columns: argmax of each model's probabilities "
        "(its answer for the teacher). Fitted rule: a threshold (two classes) or class-prior correction fitted "
        "on the validation split and applied unchanged to this split, the same way for every model.</p>"
    )


def _interval(value: float, interval: Any) -> str:
    if interval is None:
        return fmt(value)
    return f"{value:.3f} <span class=muted>[{interval.low:.3f}, {interval.high:.3f}]</span>"


def per_class_table(metrics: Mapping[str, ModelMetrics], labels: Sequence[str]) -> str:
    head = "".join(f"<th>F1 {html.escape(label)}</th>" for label in labels)
    rows = [f"<tr><th>model</th>{head}</tr>"]
    for name, m in metrics.items():
        cells = "".join(f"<td>{fmt(m.diagnosis.per_class_f1.get(label))}</td>" for label in labels)
        rows.append(f"<tr><td>{html.escape(name)}</td>{cells}</tr>")
    return "<table>" + "".join(rows) + "</table>"


def rationale_table(metrics: Mapping[str, ModelMetrics]) -> str:
    rows = [
        "<tr><th>model</th><th>rationales</th><th>label consistency</th><th>verified-claim rate</th>"
        "<th>hallucinated claims / rationale</th><th>ROUGE-L</th><th>BLEU</th><th>BERTScore F1 (rescaled)</th>"
        "<th>words</th></tr>"
    ]
    for name, m in metrics.items():
        r = m.rationale
        if r is None:
            continue
        t = r.text
        rows.append(
            f"<tr><td>{html.escape(name)}</td><td>{r.n}</td><td>{fmt(r.label_consistency)}</td>"
            f"<td>{fmt(r.verified_claim_rate)} <span class=muted>({r.claims_supported}/{r.claims_checked})</span></td>"
            f"<td>{fmt(r.hallucinations_per_rationale, 2)}</td><td>{fmt(t.rouge_l if t else None)}</td>"
            f"<td>{fmt(t.bleu if t else None, 1)}</td><td>{fmt(t.bertscore_f1_rescaled if t else None)}</td>"
            f"<td>{fmt(r.mean_words, 0)}</td></tr>"
        )
    return "<table>" + "".join(rows) + "</table>" if len(rows) > 1 else "<p class=muted>No rationales.</p>"


def confusion_tables(metrics: Mapping[str, ModelMetrics], labels: Sequence[str]) -> str:
    """One confusion matrix per model as an HTML table (rows gold, columns predicted), shaded by count
    with text in whichever of black or white reads better on each cell."""
    parts = []
    for name, m in metrics.items():
        matrix = m.diagnosis.confusion_matrix
        top = max([1, *(value for row in matrix for value in row)])
        head = "".join(f"<th>{html.escape(label)}</th>" for label in labels)
        rows = []
        for label, row in zip(labels, matrix, strict=True):
            cells = []
            for value in row:
                background, text = heat_colors(value / top)
                cells.append(f'<td class=cm style="background:{background};color:{text}">{value}</td>')
            rows.append(f"<tr><th>{html.escape(label)}</th>{''.join(cells)}</tr>")
        parts.append(
            f"<table class=confusion><caption>{html.escape(name)}</caption>"
            f"<tr><th>gold ↓ predicted →</th>{head}</tr>{''.join(rows)}</table>"
        )
    return "<div class=grid>" + "".join(parts) + "</div>"


def calibration_plot(metrics: Mapping[str, ModelMetrics]) -> str:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(4.6, 4.2))
    axis.plot([0, 1], [0, 1], "--", color="grey", linewidth=1, label="perfect calibration")
    for name, m in metrics.items():
        bins = [b for b in m.diagnosis.reliability if b.count]
        if bins:
            axis.plot(
                [b.confidence for b in bins],
                [b.accuracy for b in bins],
                "o-",
                markersize=3,
                label=f"{name} (ECE {m.diagnosis.ece:.3f})",
            )
    axis.set_xlabel("confidence (top-class probability)")
    axis.set_ylabel("accuracy")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.legend(fontsize=6, loc="lower right")
    return figure_html(figure)


def training_plot(histories: Mapping[str, Sequence[Any]]) -> str:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(5.2, 3.4))
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    colours = {name: cycle[i % len(cycle)] for i, name in enumerate(histories)}  # one colour a student
    for name, points in histories.items():
        steps = [p.step for p in points if p.val_loss is not None]
        if steps:
            axis.plot(
                steps,
                [p.val_loss for p in points if p.val_loss is not None],
                "o-",
                color=colours[name],
                markersize=3,
                label=f"{name} validation",
            )
        train_steps = [p.step for p in points if p.train_loss is not None]
        if train_steps:
            axis.plot(
                train_steps,
                [p.train_loss for p in points if p.train_loss is not None],
                "s:",
                color=colours[name],
                alpha=0.6,
                markersize=4,
                label=f"{name} train (mean since the last evaluation)",
            )
    axis.set_xlabel("optimizer step")
    axis.set_ylabel("loss")
    metric = [
        (n, [(p.step, p.val_auroc) for p in pts if getattr(p, "val_auroc", None) is not None])
        for n, pts in histories.items()
    ]
    handles, labels = axis.get_legend_handles_labels()
    if any(points for _, points in metric):
        twin = axis.twinx()
        for name, points in metric:
            if points:
                twin.plot(
                    *zip(*points, strict=True),
                    "^--",
                    color=colours[name],
                    markersize=4,
                    label=f"{name} validation AUROC",
                )
        twin.set_ylabel("validation AUROC")
        more, more_labels = twin.get_legend_handles_labels()
        handles, labels = handles + more, labels + more_labels
    # one legend for both axes, below the plot: inside it, the two would cover each other and the curves
    axis.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    return figure_html(figure)


def highlight(
    rationale: str, record: PatientRecord, categories: dict[str, set[str]] | None, reference_text: str
) -> str:
    """The rationale with each checked claim marked supported (green), wrong (red) or unsupported (orange)."""
    return highlight_claims(
        rationale, check_claims(rationale, record, categories=categories, reference_text=reference_text)
    )


def highlight_claims(text: str, report: ClaimReport) -> str:
    """`text` as HTML with each claim of `report` (made from this text) marked by its verdict."""
    spans: list[tuple[int, int, str, str]] = []
    lowered = text.lower()
    for claim in report.claims:
        clause_at = text.find(claim.text)
        if clause_at < 0:
            continue
        at = lowered.find(claim.stated.lower(), clause_at, clause_at + len(claim.text))
        if at < 0:
            continue
        tip = f"{claim.kind} of {claim.finding or 'no recorded finding'}: stated {claim.stated}, record {claim.actual}"
        spans.append((at, at + len(claim.stated), claim.verdict, tip))
    spans.sort()
    out, cursor = [], 0
    for start, end, verdict, tip in spans:
        if start < cursor:
            continue
        out.append(html.escape(text[cursor:start]))
        out.append(f'<mark class="{verdict}" title="{html.escape(tip)}">{html.escape(text[start:end])}</mark>')
        cursor = end
    out.append(html.escape(text[cursor:]))
    return "".join(out)


def table_html(table: ResultTable) -> str:
    """A result table as an HTML table, with its notes under it."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in table.rows)
    notes = "".join(f"<p class=muted>{html.escape(n)}</p>" for n in table.notes)
    return f"<table><tr>{head}</tr>{body}</table>{notes}"


def render_claims_report(
    title: str,
    table: ResultTable,
    stays: Sequence[PatientRecord],
    texts: Mapping[str, Mapping[str, str]],
    check: Callable[[str, PatientRecord], ClaimReport],
    notes: Sequence[str] = (),
) -> str:
    """A self-contained page: the result table, then for each stay every model's text (`texts`: model ->
    stay id -> text) with its claims marked by `check` (wrong ones red), as the tabular report does."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<p class=notice>{html.escape(RESEARCH_USE)}</p>",
        table_html(table),
        *(f"<p class=muted>{html.escape(n)}</p>" for n in notes),
        "<h2>Test stays</h2><p class=muted>Claims about the stay: <mark class=supported>supported</mark>, "
        "<mark class=wrong>wrong</mark>, <mark class=unsupported>not in the record</mark> (hover for the "
        "record's value).</p>",
    ]
    for stay in stays:
        parts.append(f"<div class=patient><h3>{html.escape(stay.id)}</h3>")
        parts.append(f"<p class=muted>diagnosed: {html.escape(', '.join(stay.labels) or 'none')}</p>")
        for model, by_stay in texts.items():
            text = by_stay.get(stay.id)
            if text is None:
                continue
            report = check(text, stay)
            wrong = report.count("wrong") + report.count("unsupported")
            parts.append(
                f"<p><b>{html.escape(model)}</b> <span class=muted>({report.count('supported')} supported, "
                f"{wrong} wrong or unsupported)</span></p><div class=rationale>{highlight_claims(text, report)}</div>"
            )
        parts.append("</div>")
    parts.append("</body></html>")
    return "".join(parts)


def render_report(data: ReportInput) -> str:
    labels = data.cohort.labels
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(data.title)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{html.escape(data.title)}</h1>",
    ]
    if data.provenance:
        parts.append("<p class=muted>" + html.escape(" · ".join(data.provenance)) + "</p>")
    parts.append(f"<p class=notice>{html.escape(RESEARCH_USE)}</p>")
    source = data.cohort.source
    parts.append(
        f"<p class=muted>{html.escape(data.cohort.title)} — {html.escape(source.name)}. "
        f"Licence: {html.escape(source.licence)}. {html.escape(source.citation)}</p>"
    )
    if data.summary_lines:
        parts.append("<ul>" + "".join(f"<li>{html.escape(line)}</li>" for line in data.summary_lines) + "</ul>")
    if data.verdict:
        parts.append("<p class=verdict>" + " ".join(html.escape(line) for line in data.verdict) + "</p>")
    parts.append(f"<h2>Diagnosis on the {html.escape(data.split)} split</h2>")
    parts.append(diagnosis_table(data.metrics))
    parts.append(per_class_table(data.metrics, labels))
    parts.append(confusion_tables(data.metrics, labels))
    with_probs = {n: m for n, m in data.metrics.items() if m.diagnosis.ece is not None}
    if with_probs:
        parts.append(
            "<h2>Calibration</h2><p class=muted>Top-class probability against accuracy, 10 equal-width "
            "bins; ECE is the bin-weighted gap.</p>" + calibration_plot(with_probs)
        )
    parts.append(
        "<h2>Rationales</h2><p class=muted>Against the teacher's rationales for the same patients. "
        "Label consistency: the rationale's stated diagnosis equals the model's prediction. Verified-claim "
        "rate: claims about the patient's values, statuses and categories that match the record.</p>"
    )
    parts.append(rationale_table(data.metrics))
    if data.teacher_lines:
        parts.append(
            "<h2>Teacher</h2><ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in data.teacher_lines) + "</ul>"
        )
    if data.histories:
        parts.append("<h2>Training</h2>" + training_plot(data.histories))
    if data.patients:
        parts.append(
            "<h2>Patients</h2><p class=muted>Claims: <mark class=supported>supported</mark> "
            "<mark class=wrong>wrong</mark> <mark class=unsupported>not in the record</mark> "
            "(hover for details).</p>"
        )
        for record in data.patients:
            parts.append(
                f"<div class=patient><b>Patient {html.escape(record.id)}</b> — gold: "
                f"<b>{html.escape(', '.join(record.labels))}</b>"
                f"<pre>{html.escape(record_to_text(record, data.cohort.text_style))}</pre>"
            )
            for model, predictions in data.predictions.items():
                if record.id not in predictions:
                    continue
                answer = predictions[record.id]
                shown = answer.label or answer.detail or "no usable answer"
                if answer.label is None:
                    mark = ""
                elif answer.label in record.labels:
                    mark = " <span class=right>✓ right</span>"
                else:
                    mark = " <span class=wrong>✗ wrong</span>"
                detail = f" ({html.escape(answer.detail)})" if answer.detail and answer.label else ""
                parts.append(f"<p><b>{html.escape(model)}</b>: {html.escape(shown)}{detail}{mark}</p>")
                rationale = data.rationales.get(model, {}).get(record.id)
                if rationale:
                    parts.append(
                        "<div class=rationale>"
                        + highlight(rationale, record, data.categories, data.reference_text)
                        + "</div>"
                    )
            parts.append("</div>")
    if data.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in data.notes) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)
