"""Check a rationale's claims about a stay's time series and note against the record (ClinRaGen).

Next to each mention of a variable (its name or an alias) the checker reads: counts of abnormal
readings ("higher than normal 7 times", "lower than normal twice"), "normal all the time" or
"within the normal range", a trend (rising / falling / stable) and a range of readings ("52 to 131"),
and plain direction words the way a teacher writes them: "elevated heart rate", "the respiratory rate was
low", "the high temperature and low pH", "heart rate and respiratory rate are elevated" (a word before a
list of variables, or after it, applies to each). A high / low claim is supported when the stay had at
least one reading above / below the reference range; a "normal" claim when it had none outside it.
Each is compared with the summary of the stay's readings; a claim about a variable the stay never
measured is unsupported. Quoted passages ("The note says: '...'") must appear in the note.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

from clinreason.evaluate.claims import CLAUSE, Claim, ClaimKind, ClaimReport, Verdict, equal
from clinreason.records.schema import PatientRecord
from clinreason.records.timeseries import VARIABLES, SeriesSummary, load_points, summarise

WORD_COUNTS = {"once": 1, "twice": 2, "no": 0}
COUNT = re.compile(r"(higher|lower) than normal (once|twice|no|\d+) ?(?:times?)?")
RANGE = re.compile(r"(-?\d+(?:\.\d+)?) to (-?\d+(?:\.\d+)?)")
QUOTE = re.compile(r"[\"“]([^\"”]{12,})[\"”]")
DIRECTIONS = {
    **dict.fromkeys(("elevated", "high", "higher", "raised", "increased"), "high"),
    **dict.fromkeys(("low", "lower", "decreased", "reduced", "depressed"), "low"),
    "normal": "normal",
}
NEGATIONS = {"not", "no", "never", "nor"}
SEPARATOR = re.compile(r"^(?:[\s,;]|\band\b|\bor\b|\bas well as\b|\bthe\b|\bboth\b)*$")
WORD = re.compile(r"[a-z]+")
LINKING = {"is", "was", "were", "are", "remained", "remains", "stayed", "stays", "became", "being", "been"}
DEGREE = {"mildly", "markedly", "slightly", "very", "persistently", "significantly", "consistently", "also"}
# "rising" as a predicate ("and rising,"), not as an adjective of a following noun ("falling blood pressure")
TREND = re.compile(r"\b(rising|falling|stable)\b(?!\s+(?!and\b|or\b|over\b|throughout\b|during\b|then\b)[a-z])")
PREFIX_TREND = re.compile(r"\b(?:rising|falling|stable)\s*$")


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
            verdict: Verdict = "supported" if quote.strip().lower() in note else "unsupported"
            report.claims.append(Claim("category", "note", quote.strip(), None, verdict, raw.strip()))
        mentions = _mentions(clause)
        specific: set[int] = set()
        for index, (_, end, key) in enumerate(mentions):
            window = clause[end : mentions[index + 1][0] if index + 1 < len(mentions) else len(clause)]
            if index + 1 < len(mentions):  # "... and falling blood pressure": the trend is the next one's
                window = PREFIX_TREND.sub("", window)
            summary = summaries.get(key)
            claims = _window_claims(window, key, summary, raw.strip())
            if any(c.kind == "value" or c.stated == "normal throughout" for c in claims):
                specific.add(index)
            report.claims.extend(claims)
        report.claims.extend(_direction_claims(clause, mentions, specific, summaries, raw.strip()))
    return report


def _direction_before(words: list[str]) -> str | None:
    """'the elevated <variable>': a direction word right before the variable."""
    if words and words[-1] in DIRECTIONS and not (len(words) > 1 and words[-2] in NEGATIONS):
        return DIRECTIONS[words[-1]]
    return None


def _direction_after(words: list[str]) -> str | None:
    """'<variable> was (mildly) elevated' / '<variable> higher than normal': linking verb and degree only."""
    for word in words:
        if word in DIRECTIONS:
            return DIRECTIONS[word]
        if word not in LINKING and word not in DEGREE:
            return None
    return None


def _direction_claims(
    clause: str,
    mentions: list[tuple[int, int, str]],
    specific: set[int],
    summaries: dict[str, SeriesSummary],
    raw: str,
) -> list[Claim]:
    """'elevated A, B and C' / 'A and B are low': one direction claim per variable of the list."""
    groups: list[list[int]] = []
    for index in range(len(mentions)):
        if groups and SEPARATOR.match(clause[mentions[index - 1][1] : mentions[index][0]]):
            groups[-1].append(index)
        else:
            groups.append([index])
    claims: list[Claim] = []
    for group in groups:
        first, last = group[0], group[-1]
        before_start = mentions[first - 1][1] if first else 0
        after_end = mentions[last + 1][0] if last + 1 < len(mentions) else len(clause)
        before = WORD.findall(clause[before_start : mentions[first][0]])[-2:]
        after = WORD.findall(clause[mentions[last][1] : after_end])[:4]
        direction = _direction_before(before) or _direction_after(after)
        if direction is None:
            continue
        for index in group:
            if index in specific:
                continue
            key = mentions[index][2]
            summary = summaries.get(key)
            actual = None if summary is None else f"{summary.high} high, {summary.low} low"
            verdict: Verdict
            if summary is None:
                verdict = "unsupported"
            elif direction == "normal":
                verdict = "supported" if summary.high == 0 and summary.low == 0 else "wrong"
            else:
                verdict = "supported" if (summary.high if direction == "high" else summary.low) else "wrong"
            claims.append(Claim("status", key, direction, actual, verdict, raw))
    return claims


def _window_claims(window: str, key: str, summary: SeriesSummary | None, raw: str) -> list[Claim]:
    claims: list[Claim] = []
    stated: list[tuple[ClaimKind, str, str | None, bool]] = []  # kind, stated, actual, ok
    for direction, count in COUNT.findall(window):
        n = WORD_COUNTS.get(count, int(count) if count.isdigit() else -1)
        abnormal = None if summary is None else (summary.high if direction == "higher" else summary.low)
        stated.append(
            ("value", f"{direction} than normal {count}", None if abnormal is None else str(abnormal), abnormal == n)
        )
    if re.search(r"normal all the time|within (?:the )?normal range|stay(?:s)? (?:within|normal)", window):
        ok = summary is not None and summary.high == 0 and summary.low == 0
        stated.append(
            ("status", "normal throughout", None if summary is None else f"{summary.high} high, {summary.low} low", ok)
        )
    for trend in TREND.findall(window)[:1]:
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
        verdict: Verdict = "unsupported" if summary is None else ("supported" if ok else "wrong")
        claims.append(Claim(kind, key, text, actual, verdict, raw))
    return claims


def is_count_claim(claim: Claim) -> bool:
    """A count of abnormal readings ("higher than normal 7 times"): the claim a student invents most."""
    return claim.kind == "value" and claim.stated.startswith(("higher than normal", "lower than normal"))


def verified_claims(pairs: Iterable[tuple[str, PatientRecord]]) -> tuple[int, int]:
    """(supported, checked) claims over many rationales, each checked against its own record."""
    tally = claim_tally(pairs)
    return tally.supported, tally.checked


class ClaimTally(NamedTuple):
    supported: int
    checked: int
    invented_counts: int = 0  # count claims that are wrong or about a variable the stay never measured


def claim_tally(pairs: Iterable[tuple[str, PatientRecord]]) -> ClaimTally:
    """Claims over many rationales, each checked against its own record."""
    supported = checked = invented = 0
    for text, record in pairs:
        report = check_series_claims(text, record)
        supported += report.count("supported")
        checked += report.checked
        invented += sum(1 for c in report.claims if is_count_claim(c) and c.verdict != "supported")
    return ClaimTally(supported, checked, invented)
