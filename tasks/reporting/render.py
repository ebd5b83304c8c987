"""What the renderings of reports share: the text of a table cell, and the Jinja2 templates (report page, runs index)."""

from __future__ import annotations

import numpy as np
from jinja2 import Environment, PackageLoader, select_autoescape


def fmt(value, digits: int = 4) -> str:
    """A cell's text: ``-`` for missing, integers as is, floats to ``digits`` places."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def templates() -> Environment:
    """The package's ``templates/`` folder, autoescaped, with the :func:`fmt` filter."""
    env = Environment(loader=PackageLoader("tasks.reporting", "templates"), autoescape=select_autoescape(["html", "j2"]))
    env.filters["fmt"] = fmt
    return env
