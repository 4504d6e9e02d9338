"""Hard limits on values: what no living patient can have, so that a typo, a unit mix-up or a sentinel
code (an age of -4, a systolic pressure of 1e12 mm Hg) is caught when the data is read instead of being
written into prompts as a fact.

A limit is not a normal range: the normal range says what is healthy and grades a value; the valid range
says what is possible at all. A cohort spec sets one per finding with `valid: [min, max]`; without one,
findings the knowledge base knows (vital signs, glucose, BMI, MMSE, ...) get a default below when their
name and unit match, and age gets 0-120 years. `valid: [null, null]` turns a default off.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, ConfigDict

__all__ = ["DEFAULT_AGE_LIMITS", "Limits", "default_limits", "outside"]


class Limits(BaseModel):
    """[low, high], both inclusive; None for an open end."""

    model_config = ConfigDict(frozen=True)

    low: float | None = None
    high: float | None = None

    def contains(self, value: float) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)

    def text(self) -> str:
        return f"[{_num(self.low)}, {_num(self.high)}]"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


DEFAULT_AGE_LIMITS = Limits(low=0, high=120)

# (words one of which the finding's name, label or an alias contains; units it must be in; low; high).
# Wide on purpose: physiologically possible, not usual. Sources: the knowledge base's findings
# (knowledge/kb.yaml) and the MIMIC-III benchmark's outlier limits (Harutyunyan et al. 2019).
_DEFAULTS: tuple[tuple[tuple[str, ...], tuple[str, ...], float, float], ...] = (
    (("systolic",), ("mmhg",), 30, 300),
    (("diastolic",), ("mmhg",), 5, 200),
    (("mean arterial", "mean bp", "mean blood pressure"), ("mmhg",), 10, 250),
    (("blood pressure",), ("mmhg",), 5, 300),
    (("heart rate", "pulse"), ("beats/min", "bpm", "/min"), 10, 350),
    (("respiratory rate",), ("breaths/min", "/min"), 0, 100),
    (("oxygen saturation", "spo2"), ("%",), 0, 100),
    (("temperature",), ("°c", "degc", "c"), 20, 46),
    (("temperature",), ("°f", "degf", "f"), 68, 115),
    (("glucose",), ("mg/dl",), 5, 2500),
    (("glucose",), ("mmol/l",), 0.3, 140),
    (("body mass index", "bmi"), ("kg/m2",), 5, 200),
    (("weight",), ("kg",), 0.2, 650),
    (("ph",), ("",), 6.3, 8.0),
    (("inspired oxygen", "fio2"), ("",), 0.21, 1.0),
    (("mini-mental", "mmse"), ("of30", "/30", ""), 0, 30),
    (("cholesterol",), ("mg/dl",), 10, 2000),
)


def _unit(unit: str | None) -> str:
    return (unit or "").replace(" ", "").replace("²", "2").replace("[", "").replace("]", "").lower()


def _words(text: str) -> str:
    return f" {text.replace('_', ' ').lower()} "


def default_limits(key: str, label: str | None, aliases: Iterable[str], unit: str | None) -> Limits | None:
    """The default hard limits of a finding the knowledge base knows, matched by name and unit."""
    names = [_words(key), _words(label or ""), *(_words(a) for a in aliases)]
    given = _unit(unit)
    for words, units, low, high in _DEFAULTS:
        if given not in units:
            continue
        if any(f" {w} " in name or (len(w) > 4 and w in name) for w in words for name in names):
            return Limits(low=low, high=high)
    return None


def outside(value: float, limits: Limits | None, what: str, unit: str | None = None) -> str | None:
    """The message for a value outside its limits, or None when it is within them."""
    if limits is None or limits.contains(value):
        return None
    shown = f"{value:g}" + (f" {unit}" if unit else "")
    return f"implausible {what} {shown}: outside its valid range {limits.text()}"
