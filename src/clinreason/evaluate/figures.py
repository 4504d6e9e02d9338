"""Plots as self-contained `<img>` tags (PNG in a data URI), so a report is one file that opens offline,
and the colours of heat-map cells drawn in HTML with readable text."""

from __future__ import annotations

import base64
import io
from typing import Any

__all__ = ["contrast_ratio", "figure_html", "heat_colors", "pyplot"]


def pyplot() -> Any:
    """matplotlib.pyplot on the non-interactive Agg backend (no display is needed or used)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def figure_html(figure: Any, *, alt: str = "plot", dpi: int = 110) -> str:
    """The figure as an `<img>` tag; the figure is closed."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    pyplot().close(figure)
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _luminance(color: str) -> float:
    """WCAG relative luminance of '#rrggbb'."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first: str, second: str) -> float:
    """WCAG contrast ratio of two '#rrggbb' colours (1 to 21; 4.5 is the minimum for body text)."""
    a, b = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def heat_colors(fraction: float) -> tuple[str, str]:
    """(background, text) for a heat-map cell: white to dark blue, and whichever of black or white text
    reads better on it."""
    fraction = min(max(fraction, 0.0), 1.0)
    low, high = (255, 255, 255), (8, 48, 107)
    rgb = [round(lo + (hi - lo) * fraction) for lo, hi in zip(low, high, strict=True)]
    background = "#" + "".join(f"{c:02x}" for c in rgb)
    text = max(("#000000", "#ffffff"), key=lambda color: contrast_ratio(background, color))
    return background, text
