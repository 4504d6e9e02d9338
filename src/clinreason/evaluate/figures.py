"""Plots as self-contained `<img>` tags (PNG in a data URI), so a report is one file that opens offline."""

from __future__ import annotations

import base64
import io
from typing import Any

__all__ = ["figure_html", "pyplot"]


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
