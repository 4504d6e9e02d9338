"""Check the factual claims of a rationale against the patient's record.

A rationale can state the right diagnosis for the wrong reasons ("no ST depression (2.3 mm)").
Each clause is scanned for mentions of the record's findings (by label, key or alias). A number
that follows a mention is a claim about that finding's value; a status word after it (high /
normal / low) is a claim about its status; a category named next to it (e.g. "Severe hippocampal
atrophy", "thallium ... reversible defect") is a claim about its category; "74-year-old" is a claim
about age, and so are "a young age" and "elderly" (`AGE_TERMS`). A grading word a finding defines
(`Finding.terms`: "normal weight" for a BMI of 18.5-24.9) is a claim about that finding wherever it
stands, the conclusion included ("normal weight and little family history indicate no diabetes" for a
BMI of 35.8 is wrong), and so is a grade just before a finding's name ("normal glucose tolerance").
Numbers with a clinical unit that belong to no finding and are not reference values
(ranges, cut-offs, fact-sheet numbers) are claims the record does not support.

verified-claim rate = supported / (supported + wrong + unsupported). It is a heuristic: it cannot
read negation ("no ST depression") or reasoning, and it only sees what is phrased near a finding's
name. Its value is in comparing models on the same patients, not as an absolute truth score.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from clinreason.records.schema import Cohort, Finding, PatientRecord, ReferenceRange

# Raised when a change makes the checker count differently; metrics record it, so that rates measured by
# different checkers are not compared. 2: grading words, "N years old"/"Age: N" ages, grades before a name.
CHECKER_VERSION = 2

Verdict = Literal["supported", "wrong", "unsupported"]
ClaimKind = Literal["value", "status", "category", "age", "term"]

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?![\w.]*\d)")
# "74-year-old", "80 years old", "Age: 24 years", "aged 67": the number is the age (group "age")
AGE = re.compile(
    r"(?P<age>\d+(?:\.\d+)?)[- ]years?[- ]old"
    r"|\bage(?:d|:)?\s+(?:of\s+)?(?P<aged>\d+(?:\.\d+)?)(?:\s*years)?(?![\d.]*\d)"
)
CLAUSE = re.compile(r"(?<=[.;!?])\s+|\n+")
REFERENCE_CUES = (
    "reference",
    "range",
    "cut-off",
    "cutoff",
    "limit",
    "below",
    "above",
    "less than",
    "more than",
    "at least",
    "up to",
    "or more",
    "than",
    "threshold",
    "between",
    "criterion",
    "criteria",
    "about",
    "approximately",
    "over",
    "under",
    "exceeds",
    "exceed",
)
STATUS_WORDS: dict[str, tuple[str, ...]] = {
    "high": (
        "high",
        "elevated",
        "raised",
        "increased",
        "above normal",
        "above the normal",
        "above the reference",
    ),
    "low": ("low", "decreased", "reduced", "below normal", "below the normal", "below the reference"),
    "normal": ("normal", "within the normal", "within normal", "unremarkable"),
}
CLINICAL_UNITS = ("mg/dl", "mm hg", "mmhg", "beats/min", "bpm", "kg/m2", "mmol/l", "mm", "/30", "/18", "/10")
ATTRIBUTION_WINDOW = 60  # characters between a finding's name and a number that belongs to it
# Words that grade an age by themselves, with the ages (years, inclusive) each is true for. "young" stops at
# 44: 45 is where diabetes screening of every adult began (ADA) and where most cohorts' risk tables step up.
AGE_TERMS: dict[str, tuple[float | None, float | None]] = {
    "young": (None, 44),
    "elderly": (65, None),
    "old age": (65, None),
    "advanced age": (65, None),
}
NEGATION = re.compile(r"\b(no|not|without|non|absence of|lack of)\W+(\w+\W+)?$")
# A grading word that starts a general statement ("obesity is a major risk factor") is not about the patient.
GENERAL = re.compile(
    r"^\W*(is|are)\s+(a|an|the|one|major|common|often|associated|linked|defined)\b|^\W*(raises|increases)\b"
)
PREFIX_STATUS = re.compile(r"\b(high|elevated|raised|increased|low|reduced|decreased|normal)\s+$")


@dataclass(frozen=True)
class Claim:
    kind: ClaimKind
    finding: str | None
    stated: str
    actual: str | None
    verdict: Verdict
    text: str


@dataclass
class ClaimReport:
    claims: list[Claim] = field(default_factory=list)

    def count(self, verdict: Verdict) -> int:
        return sum(1 for claim in self.claims if claim.verdict == verdict)

    @property
    def checked(self) -> int:
        return len(self.claims)

    @property
    def hallucinated(self) -> int:
        return self.count("wrong") + self.count("unsupported")

    @property
    def rate(self) -> float | None:
        """Verified-claim rate; None when the rationale makes no checkable claim."""
        return self.count("supported") / self.checked if self.checked else None


def names_of(finding: Finding) -> list[str]:
    """Lower-case names a rationale may use for a finding, longest first."""
    label = re.sub(r"\s*\(.*?\)", "", finding.label)
    names = {label, finding.name.replace("_", " "), *finding.aliases}
    return sorted({n.lower().strip() for n in names if len(n.strip()) >= 2}, key=len, reverse=True)


def equal(stated: float, actual: float, decimals: int | None = None) -> bool:
    """Equal up to the precision the record shows (or the precision the rationale used)."""
    if abs(stated - actual) < 1e-9:
        return True
    places = decimals if decimals is not None else _places(actual)
    return abs(stated - actual) <= 0.5 * 10 ** (-places) + 1e-9 or abs(round(actual, _places(stated)) - stated) < 1e-9


def _places(value: float) -> int:
    text = f"{value:.6g}"
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


@dataclass(frozen=True)
class _Mention:
    start: int
    end: int
    finding: Finding
    inverse: bool = False  # named by an inverse alias: a stated grade means the opposite of the value's


def _mentions(clause: str, findings: list[Finding]) -> list[_Mention]:
    """Non-overlapping mentions; where names overlap the longer one wins."""
    found: list[_Mention] = []
    for finding in findings:
        named = [(name, False) for name in names_of(finding)]
        named += [(name.lower(), True) for name in finding.inverse_aliases]
        for name, inverse in named:
            for match in re.finditer(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", clause):
                found.append(_Mention(match.start(), match.end(), finding, inverse))
    found.sort(key=lambda m: (m.start, -(m.end - m.start)))
    chosen: list[_Mention] = []
    for mention in found:
        if chosen and mention.start < chosen[-1].end:
            continue
        chosen.append(mention)
    return chosen


def _status_in(text: str) -> str | None:
    found = {s for s, words in STATUS_WORDS.items() if any(re.search(rf"\b{re.escape(w)}\b", text) for w in words)}
    for status in ("high", "low"):
        if found == {"normal", status} and re.search(
            rf"{'above' if status == 'high' else 'below'} (the )?normal", text
        ):
            return status
    return found.pop() if len(found) == 1 else None


def check_claims(
    rationale: str,
    record: PatientRecord,
    *,
    categories: dict[str, set[str]] | None = None,
    reference_text: str = "",
) -> ClaimReport:
    """Claims of `rationale` about `record`. `categories` lists each categorical finding's possible values
    (see `cohort_categories`); numbers in `reference_text` (the fact sheet) count as reference values."""
    categories = categories or {}
    findings = list(record.findings.values())
    reference = {float(n) for n in NUMBER.findall(reference_text.lower())}
    for finding in findings:
        if finding.normal is not None:
            reference.update(v for v in (finding.normal.low, finding.normal.high) if v is not None)
    report = ClaimReport()
    carried: Finding | None = None
    for raw in CLAUSE.split(rationale):
        clause = raw.strip().lower()
        if clause:
            last = _check_clause(clause, raw.strip(), record, findings, categories, reference, report, carried)
            # "Body mass index: 31.0 kg/m2, high; normal weight.": a grade after a semicolon is about the
            # finding the sentence is about, so it is checked like one in the same clause
            carried = last if raw.rstrip().endswith(";") else None
    return report


def _check_clause(
    clause: str,
    raw: str,
    record: PatientRecord,
    findings: list[Finding],
    categories: dict[str, set[str]],
    reference: set[float],
    report: ClaimReport,
    carried: Finding | None = None,
) -> Finding | None:
    """Adds the clause's claims; returns its last numeric finding mentioned (or the carried one)."""
    seen: set[tuple[str, str]] = set()

    def add(kind: ClaimKind, finding: Finding | None, stated: str, actual: str | None, verdict: Verdict) -> None:
        key = (kind, finding.name if finding else stated)
        if key not in seen:
            seen.add(key)
            report.claims.append(Claim(kind, finding.name if finding else None, stated, actual, verdict, raw))

    age_spans = []
    for match in AGE.finditer(clause):
        group = "age" if match.group("age") is not None else "aged"
        age_spans.append((match.start(group), match.end(group)))
        if record.age is not None:
            add(
                "age",
                None,
                match.group(group),
                f"{record.age:g}",
                "supported" if equal(float(match.group(group)), record.age, 1) else "wrong",
            )
    if record.age is not None:
        for term, (low, high) in AGE_TERMS.items():
            # strict bounds, no rounding slack: ages are often fractional (ADNI's 74.3)
            inside = (low is None or record.age >= low) and (high is None or record.age <= high)
            for said, age_verdict in _term_verdicts(clause, term, inside):
                add("age", None, said, f"{record.age:g}", age_verdict)
    for finding in findings:
        if isinstance(finding.value, float) and not isinstance(finding.value, bool):
            for grade in finding.terms:
                inside = _within(finding.value, grade.range, finding.decimals)
                for said, term_verdict in _term_verdicts(clause, grade.term.lower(), inside):
                    add("term", finding, said, f"{finding.value:g}", term_verdict)
    mentions = _mentions(clause, findings)
    for index, mention in enumerate(mentions):
        finding = mention.finding
        window_end = mentions[index + 1].start if index + 1 < len(mentions) else len(clause)
        after = clause[mention.end : min(window_end, mention.end + ATTRIBUTION_WINDOW)]
        if isinstance(finding.value, str) and finding.name in categories:
            before = clause[max(0, mention.start - 20) : mention.start]
            named = [
                c
                for c in categories[finding.name]
                if re.search(rf"(?<![a-z]){re.escape(c.lower())}(?![a-z])", before + " | " + after)
            ]
            if named:
                category = max(named, key=len)
                verdict: Verdict = "supported" if category.lower() == finding.value.lower() else "wrong"
                add("category", finding, category, finding.value, verdict)
        elif isinstance(finding.value, float) and not isinstance(finding.value, bool):
            # a grade just before the name wins ("high glucose tolerance, normal weight": "normal" is the
            # weight's); after the name, another finding's grading word ("normal weight") is not this one's
            prefix = PREFIX_STATUS.search(clause[max(0, mention.start - 12) : mention.start])
            if prefix is not None and not GENERAL.match(clause[mention.end :]):
                status = _status_in(prefix.group(1))
            else:
                status = _status_in(_without_terms(after[:45], findings))
            if status is not None and finding.status is not None:
                if mention.inverse:  # "high glucose tolerance": the glucose is not high
                    expected = {"high": {"normal", "low"}, "low": {"high"}, "normal": {"normal"}}[status]
                    said = f"{status} {clause[mention.start : mention.end]}"
                    inverted: Verdict = "supported" if finding.status in expected else "wrong"
                    add("status", finding, said, finding.status, inverted)
                else:
                    add(
                        "status",
                        finding,
                        status,
                        finding.status,
                        "supported" if status == finding.status else "wrong",
                    )
    for match in NUMBER.finditer(clause):
        position, stated = match.start(), float(match.group(0))
        if any(s <= position < e for s, e in age_spans) or any(m.start <= position < m.end for m in mentions):
            continue
        if clause[max(0, position - 1) : position] == "/" or re.search(r"\d\s+(?:out\s+)?of\s+$", clause[:position]):
            continue  # a scale: "22/30", "2 of 3"
        owner = next((m for m in reversed(mentions) if m.end <= position), None)
        close = owner is not None and position - owner.end <= ATTRIBUTION_WINDOW
        before = clause[max(0, position - 20) : position]
        cue = any(c in before for c in REFERENCE_CUES)
        if close and owner is not None and isinstance(owner.finding.value, float):
            finding, actual = owner.finding, owner.finding.value
            if equal(stated, actual, finding.decimals):
                add("value", finding, match.group(0), f"{actual:g}", "supported")
            elif not cue and stated not in reference:
                add("value", finding, match.group(0), f"{actual:g}", "wrong")
            continue
        unit = clause[match.end() : match.end() + 10].strip()
        if not unit.startswith(CLINICAL_UNITS) or cue or stated in reference:
            continue
        if any(isinstance(f.value, float) and equal(stated, f.value, f.decimals) for f in findings):
            continue  # the patient's own value, phrased without the finding's name
        add("value", None, f"{match.group(0)} {unit.split()[0]}", None, "unsupported")
    if not mentions and carried is not None and carried.status is not None:
        status = _status_in(_without_terms(clause[:45], findings))
        if status is not None:
            add("status", carried, status, carried.status, "supported" if status == carried.status else "wrong")
    numeric = [m.finding for m in mentions if isinstance(m.finding.value, float)]
    return numeric[-1] if numeric else (carried if not mentions else None)


@functools.lru_cache(maxsize=512)
def _term_pattern(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![a-z-]){re.escape(term)}(?![a-z-])")


def _term_verdicts(clause: str, term: str, inside: bool) -> Iterator[tuple[str, Verdict]]:
    """What each use of a grading word says ("obesity", "not obesity") and whether the patient's value,
    inside the word's range or not, bears it out."""
    for match in _term_pattern(term).finditer(clause):
        said = _graded(clause, match.start(), match.end(), term)
        if said is not None:
            yield said, "supported" if inside == (said == term) else "wrong"


def _graded(clause: str, start: int, end: int, term: str) -> str | None:
    """What a grading word at clause[start:end] says about the patient: the term, "not <term>" when
    negated, or None when it opens a general statement or a reference value ("30 or more is obesity")."""
    before = clause[max(0, start - 30) : start]
    if GENERAL.match(clause[end:]) or re.search(
        r"\d\s*(-|to|or more|or less|and above)\s*\d*\s*\S*\s*(is|are|means)\s*$", before
    ):
        return None
    return f"not {term}" if NEGATION.search(before[-20:]) else term


def _without_terms(text: str, findings: list[Finding]) -> str:
    for term in [t.term.lower() for f in findings for t in f.terms] + list(AGE_TERMS):
        text = _term_pattern(term).sub(" ", text)
    return text


def _within(value: float, bounds: ReferenceRange, decimals: int | None) -> bool:
    """Inside an inclusive range, up to the precision the record shows (24.94 rounds to 24.9: normal weight)."""
    slack = 0.5 * 10 ** (-(decimals if decimals is not None else _places(value)))
    return (bounds.low is None or value >= bounds.low - slack) and (bounds.high is None or value <= bounds.high + slack)


def verified_only(
    rationales: Mapping[str, str],
    records: Sequence[PatientRecord],
    *,
    categories: dict[str, set[str]] | None = None,
    reference_text: str = "",
) -> dict[str, str]:
    """The rationales of `records` that make no wrong or unsupported claim: a student trained on the
    others learns their mistakes too (the teacher's "glucose tolerance is high" beside a high glucose)."""
    return {
        record.id: text
        for record in records
        if (text := rationales.get(record.id)) is not None
        and not check_claims(text, record, categories=categories, reference_text=reference_text).hallucinated
    }


def cohort_categories(cohort: Cohort) -> dict[str, set[str]]:
    """Every value each categorical finding takes in the cohort."""
    values: dict[str, set[str]] = {}
    for record in cohort.records:
        for key, finding in record.findings.items():
            if isinstance(finding.value, str):
                values.setdefault(key, set()).add(finding.value)
    return values


# A label that names the absence of the condition: its rationale should not conclude from abnormal findings.
NEGATIVE_LABEL = re.compile(r"^(no|non|not|normal|healthy|benign|control|negative|absent)\b|^non", re.IGNORECASE)
CONCLUDING = re.compile(
    r"\b(indicat\w*|suggest\w*|consistent with|point\w* to|support\w*|therefore|thus|overall|taken together|"
    r"in conclusion|conclusion:|in summary|likely|diagnosis|fits)\b",
    re.IGNORECASE,
)
ABNORMAL_WORDS = re.compile(r"\b(high|elevated|raised|increased|low|reduced|decreased|abnormal|strong|severe)\b", re.I)
NORMAL_WORDS = re.compile(r"\b(normal|unremarkable|within (the )?(normal|reference) range)\b", re.IGNORECASE)


def concluding_sentence(rationale: str) -> str | None:
    """The last sentence that concludes ("... indicate no diabetes."), not the "Final Diagnosis" line."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", rationale) if s.strip()]
    concluding = [s for s in sentences if CONCLUDING.search(s) and not s.lower().startswith("final diagnosis")]
    return concluding[-1] if concluding else None


def concluded_label(rationale: str, classes: Mapping[str, str]) -> str | None:
    """The class a rationale's concluding sentence names, by its label or description (`classes`: label ->
    description), the longer name winning where two overlap ("no diabetes" over "diabetes"); None when it
    names none or several. The rationale's own argument, which its "Final Diagnosis" line may contradict.
    A wording heuristic: "a nondemented person who goes on to develop dementia" reads as nondemented."""
    sentence = concluding_sentence(rationale)
    if sentence is None:
        return None
    text = sentence.lower()
    spans: list[tuple[int, int, str]] = []
    for label, description in classes.items():
        for name in {label.lower(), description.lower()}:
            for match in re.finditer(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", text):
                spans.append((match.start(), match.end(), label))
    spans.sort(key=lambda span: (-(span[1] - span[0]), span[0]))
    chosen: list[tuple[int, int, str]] = []
    for span in spans:
        if not any(span[0] < other[1] and other[0] < span[1] for other in chosen):
            chosen.append(span)
    named = {label for _, _, label in chosen}
    return named.pop() if len(named) == 1 else None


def conclusion_conflict(rationale: str, stated: str | None) -> bool | None:
    """Whether the rationale's concluding sentence argues against its own conclusion: it names two or more
    abnormal findings and concludes the absence of the condition ("high blood pressure and a strong
    family history indicate no diabetes"), or names only normal findings (two or more) and concludes
    its presence. None when there is no stated label or no concluding sentence. A heuristic on wording:
    it does not know which findings bear on which condition."""
    if not stated:
        return None
    sentence = concluding_sentence(rationale)
    if sentence is None:
        return None
    abnormal = len(ABNORMAL_WORDS.findall(sentence))
    normal = len(NORMAL_WORDS.findall(sentence))
    if NEGATIVE_LABEL.search(stated.strip()):
        return abnormal >= 2 and normal == 0
    return normal >= 2 and abnormal == 0
