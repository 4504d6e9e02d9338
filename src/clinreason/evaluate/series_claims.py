"""Check a rationale's claims about a stay's time series and note against the record (ClinRaGen).

Next to each mention of a variable (its name or an alias) the checker reads: counts of abnormal
readings ("higher than normal 7 times", "lower than normal twice"), "normal all the time" or
"within the normal range", a trend (rising / falling / stable) and a range of readings ("52 to 131").
Each is compared with the summary of the stay's readings; a claim about a variable the stay never
measured is unsupported. Quoted passages ("The note says: '...'") must appear in the note.
"""

from __future__ import annotations

import re

from clinreason.evaluate.claims import CLAUSE, Claim, ClaimReport, equal
from clinreason.records.schema import PatientRecord
from clinreason.records.timeseries import VARIABLES, SeriesSummary, load_points, summarise

WORD_COUNTS = {"once": 1, "twice": 2, "no": 0}
COUNT = re.compile(r"(higher|lower) than normal (once|twice|no|\d+) ?(?:times?)?")
RANGE = re.compile(r"(-?\d+(?:\.\d+)?) to (-?\d+(?:\.\d+)?)")
QUOTE = re.compile(r"[\"“]([^\"”]{12,})[\"”]")


def _names() -> list[tuple[str, str]]:
    pairs = []
    for key, variable in VARIABLES.items():
        for name in {variable.label, *variable.aliases}:
            pairs.append((name.lower(), key))
    return sorted(pairs, key=lambda p: len(p[0]), reverse=True)


def _mentions(clause: str) -> list[tuple[int, int, str]]:
    found: list[tuple[int, int, str]] = []
    for name, key in _names():
        for match in re.finditer(rf"(?<![a-z]){re.escape(name)}(?![a-z])", clause):
            if not any(s <= match.start() < e for s, e, _ in found):
                found.append((match.start(), match.end(), key))
    return sorted(found)


def check_series_claims(text: str, record: PatientRecord) -> ClaimReport:
    summaries = summarise(load_points(record))
    report = ClaimReport()
    note = " ".join(n.text for n in record.notes).lower()
    for raw in CLAUSE.split(text):
        clause = raw.strip().lower()
        if not clause:
            continue
        for quote in QUOTE.findall(raw):
            verdict = "supported" if quote.strip().lower() in note else "unsupported"
            report.claims.append(Claim("category", "note", quote.strip(), None, verdict, raw.strip()))
        mentions = _mentions(clause)
        for index, (_, end, key) in enumerate(mentions):
            window = clause[end : mentions[index + 1][0] if index + 1 < len(mentions) else len(clause)]
            summary = summaries.get(key)
            for claim in _window_claims(window, key, summary, raw.strip()):
                report.claims.append(claim)
    return report


def _window_claims(window: str, key: str, summary: SeriesSummary | None, raw: str) -> list[Claim]:
    claims: list[Claim] = []
    stated: list[tuple[str, str, str | None, bool]] = []  # kind, stated, actual, ok
    for direction, count in COUNT.findall(window):
        n = WORD_COUNTS.get(count, int(count) if count.isdigit() else -1)
        actual = None if summary is None else (summary.high if direction == "higher" else summary.low)
        stated.append(
            ("value", f"{direction} than normal {count}", None if actual is None else str(actual), actual == n)
        )
    if re.search(r"normal all the time|within (?:the )?normal range|stay(?:s)? (?:within|normal)", window):
        ok = summary is not None and summary.high == 0 and summary.low == 0
        stated.append(
            ("status", "normal throughout", None if summary is None else f"{summary.high} high, {summary.low} low", ok)
        )
    for trend in re.findall(r"\b(rising|falling|stable)\b", window)[:1]:
        stated.append(
            (
                "status",
                trend,
                None if summary is None else summary.trend,
                summary is not None and summary.trend == trend,
            )
        )
    for low, high in RANGE.findall(window)[:1]:
        if summary is None:
            stated.append(("value", f"{low} to {high}", None, False))
        else:
            decimals = VARIABLES[key].decimals
            ok = equal(float(low), summary.minimum, decimals) and equal(float(high), summary.maximum, decimals)
            stated.append(("value", f"{low} to {high}", f"{summary.minimum:g} to {summary.maximum:g}", ok))
    for kind, text, actual, ok in stated:
        verdict = "unsupported" if summary is None else ("supported" if ok else "wrong")
        claims.append(Claim(kind, key, text, actual, verdict, raw))  # type: ignore[arg-type]
    return claims
