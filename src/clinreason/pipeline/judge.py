"""`clinreason judge RUN`: every rationale of a finished run's evaluation split judged on a rubric by an
LLM judge, summarised per model, written into the run.

Judged: each student's rationales (predictions/student-<variant>.jsonl), the teacher's own few-shot
rationales (teacher/<split>-diagnose.jsonl) and the teacher's reference rationales, which were written
knowing the gold label (rationales/<split>.jsonl). The same patients for every model (`limit`: the
first N of the split). Results go to `judge/<rubric>-<judge>-<blind|gold>.json` (the summary) and
`.jsonl` (every judgement with its reasons), owner-only; the summary is added to metrics.json under
`judged`, and a section of report.html shows it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clinreason.errors import ConfigError
from clinreason.judge.controls import altered_values
from clinreason.judge.llm import JudgeItem, judge_rationales
from clinreason.judge.rubric import load_rubric
from clinreason.judge.summary import CriterionSummary, JudgeSummary, summarise_judgements
from clinreason.pipeline.config import RunConfig
from clinreason.progress import Observer
from clinreason.records import Splits, load_cohort
from clinreason.records.text import record_to_text
from clinreason.run_folder import read_folder_config
from clinreason.teacher import TeacherBackend, TeacherConfig, connect

__all__ = ["collect_items", "judge_run"]

REFERENCE = "teacher:reference (knows the gold label)"


def _read(path: Path) -> list[dict[str, object]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def collect_items(folder: Path, limit: int | None = None, *, control: bool = False) -> tuple[list[JudgeItem], str]:
    """(the rationales of the run's evaluation split, by model; the split's name). With `control`, also
    each teacher reference with its stated values made wrong (`judge.controls`), judged blind beside them."""
    config = read_folder_config(folder, RunConfig)
    split = config.evaluation.split
    cohort = load_cohort(config.data.cohort)
    records = Splits.load(folder / "splits.json").apply(cohort, split).records[:limit]
    by_id = {r.id: r for r in records}
    sources: dict[str, list[tuple[str, str]]] = {}
    for path in sorted((folder / "predictions").glob("student-*.jsonl")):
        if path.stem.endswith("-validation") or path.stem.endswith(f"-{split}"):
            continue
        name = "student:" + path.stem.removeprefix("student-")
        rows = [(str(row["record_id"]), str(row["rationale"])) for row in _read(path) if row.get("rationale")]
        if rows:
            sources[name] = rows
    teacher = [
        (str(r["record_id"]), str(r["rationale"])) for r in _read(folder / "teacher" / f"{split}-diagnose.jsonl")
    ]
    sources["teacher:few-shot"] = [(i, t) for i, t in teacher if t and t != "None"]
    reference = _read(folder / "rationales" / f"{split}.jsonl")
    sources[REFERENCE] = [(str(r["record_id"]), str(r["rationale"])) for r in reference if r.get("status") == "kept"]
    items = [
        JudgeItem(
            record_id=record_id,
            model=model,
            patient=record_to_text(by_id[record_id], cohort.text_style),
            rationale=text,
            gold=by_id[record_id].labels[0] if by_id[record_id].labels else None,
        )
        for model, rows in sources.items()
        for record_id, text in rows
        if record_id in by_id
    ]
    if not items:
        raise ConfigError(f"{folder}: no rationales on the {split} split to judge (did the run finish?)")
    if control:
        items += [c for item in items if item.model == REFERENCE and (c := altered_values(item)) is not None]
    return items, split


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")


def judge_run(
    folder: str | Path,
    rubric_name: str,
    judge: TeacherConfig,
    *,
    with_gold: bool = False,
    limit: int | None = None,
    seed: int = 0,
    cache: str | Path | None = None,
    observer: Observer | None = None,
    backend: TeacherBackend | None = None,
    control: bool = False,
) -> JudgeSummary:
    folder = Path(folder)
    rubric = load_rubric(rubric_name)
    items, split = collect_items(folder, limit, control=control)
    with connect(judge, cache, backend=backend) as session:
        judgements = judge_rationales(session, rubric, items, with_gold=with_gold, seed=seed, observer=observer)
    summary = JudgeSummary(
        rubric=rubric.name,
        rubric_version=rubric.version,
        judge=f"{judge.backend}:{judge.model}",
        with_gold=with_gold,
        seed=seed,
        split=split,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        models=summarise_judgements(judgements, rubric, seed=seed),
    )
    out = folder / "judge"
    out.mkdir(mode=0o700, exist_ok=True)
    stem = f"{rubric.name}-{_slug(summary.judge)}-{'gold' if with_gold else 'blind'}"
    for path, text in (
        (out / f"{stem}.json", summary.model_dump_json(indent=2) + "\n"),
        (out / f"{stem}.jsonl", "".join(j.model_dump_json() + "\n" for j in judgements)),
        (out / f"{stem}.md", judge_table(summary) + "\n"),
    ):
        path.write_text(text)
        path.chmod(0o600)
    _record(folder, stem, summary)
    return summary


def judge_table(summary: JudgeSummary) -> str:
    """Markdown: one row per model, mean [95% interval] per criterion and overall."""
    names = list(next((m.criteria for m in summary.models.values() if m.criteria), {}))
    lines = [
        f"Rubric {summary.rubric} v{summary.rubric_version}; judge {summary.judge}, "
        f"{'sees' if summary.with_gold else 'blind to'} the gold label; {summary.split} split; seed {summary.seed}; "
        f"{summary.created}. Scores 1-5, mean [95% bootstrap interval].",
        "",
        "| model | judged | unscored | " + " | ".join(names) + " | overall |",
        "|---|---|---|" + "---|" * (len(names) + 1),
    ]
    for model, scores in summary.models.items():
        cells = [_cell(scores.criteria.get(name)) for name in names] + [_cell(scores.overall)]
        lines.append(f"| {model} | {scores.scored} | {scores.unscored} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(score: CriterionSummary | None) -> str:
    if score is None:
        return "–"
    interval = score.interval
    return f"{score.mean:.2f} [{interval.low:.2f}, {interval.high:.2f}]" if interval else f"{score.mean:.2f}"


def _record(folder: Path, stem: str, summary: JudgeSummary) -> None:
    """The summary into metrics.json (`judged`) and a section of report.html, replacing an older one."""
    import html

    metrics_path = folder / "metrics.json"
    if metrics_path.is_file():
        raw = json.loads(metrics_path.read_text())
        raw.setdefault("judged", {})[stem] = summary.model_dump(mode="json")
        metrics_path.write_text(json.dumps(raw, indent=2) + "\n")
    report = folder / "report.html"
    if report.is_file():
        start, end = f"<!-- judge:{stem} -->", f"<!-- /judge:{stem} -->"
        page = report.read_text()
        if start in page:
            page = page[: page.index(start)] + page[page.index(end) + len(end) :]
        rows = judge_table(summary).splitlines()
        section = (
            f"{start}<section><h2>LLM judge: {html.escape(summary.label)}</h2><p>{html.escape(rows[0])}</p>"
            f"<pre>{html.escape(chr(10).join(rows[2:]))}</pre></section>{end}"
        )
        page = page.replace("</body>", section + "</body>") if "</body>" in page else page + section
        report.write_text(page)


def _review_parts(folder: Path, rubric_name: str, limit: int | None = None) -> tuple[Any, Any, Any]:
    from clinreason.judge.review import ReviewStore, review_patients

    rubric = load_rubric(rubric_name)
    items, _ = collect_items(folder, limit)
    return ReviewStore(folder / "review.sqlite"), rubric, review_patients(items)


def review_app(folder: str | Path, rubric_name: str = "kwon", limit: int | None = None) -> Any:
    """The review page's app for a run (its ratings in RUN/review.sqlite)."""
    from clinreason.judge.review_app import create_review_app

    folder = Path(folder)
    store, rubric, patients = _review_parts(folder, rubric_name, limit)
    return create_review_app(store, rubric, patients, title=folder.name)


def serve_review(
    folder: str | Path,
    rubric_name: str = "kwon",
    *,
    host: str = "127.0.0.1",
    port: int = 8010,
    limit: int | None = None,
) -> None:
    import uvicorn

    uvicorn.run(review_app(folder, rubric_name, limit), host=host, port=port, log_level="warning", access_log=False)


def review_summary(folder: str | Path, rubric_name: str = "kwon") -> Any:
    """Per-model means, inter-rater agreement and the LLM judge against the raters (the first judge
    file of this rubric in RUN/judge, if any)."""
    from clinreason.judge.review import summarise_reviews

    folder = Path(folder)
    store, rubric, _ = _review_parts(folder, rubric_name)
    judged: list[dict[str, object]] = []
    files = sorted((folder / "judge").glob(f"{rubric.name}-*.jsonl")) if (folder / "judge").is_dir() else []
    if files:
        judged = [json.loads(line) for line in files[0].read_text().splitlines() if line.strip()]
    return summarise_reviews(store, rubric, judged)


def review_table(summary: Any) -> str:
    lines = [
        f"Rubric {summary.rubric}; raters: {', '.join(summary.raters) or 'none'}; "
        f"{summary.patients_rated} patient(s) rated.",
        "",
    ]
    criteria = list(next(iter(summary.means.values()), {}))
    lines += ["| model | " + " | ".join(criteria) + " |", "|---|" + "---|" * len(criteria)]
    lines += [f"| {m} | " + " | ".join(f"{v[c]:.2f}" for c in criteria) + " |" for m, v in summary.means.items()]
    for title, table in (("between raters", summary.between_raters), ("LLM judge vs raters", summary.judge_vs_humans)):
        if table:
            lines += ["", f"Agreement {title}:"]
            lines += [
                f"- {c}: {a.statistic} = {'undefined' if a.value is None else f'{a.value:.3f}'} ({a.units} rationales)"
                for c, a in table.items()
            ]
    return "\n".join(lines)


def write_review_export(folder: str | Path, rubric_name: str, out: str | Path) -> int:
    from clinreason.judge.review import write_ratings_csv

    store, rubric, _ = _review_parts(Path(folder), rubric_name)
    rows = store.rows()
    out = Path(out)
    if out.suffix == ".json":
        out.write_text(json.dumps(rows, indent=2) + "\n")
    else:
        with out.open("w", newline="") as handle:
            write_ratings_csv(rows, rubric, handle)
    out.chmod(0o600)
    return len(rows)
