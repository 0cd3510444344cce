"""The report page: the Jinja2 templates beside this module, filled from targeting.report.context."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from targeting.report.context import context
from targeting.report.model import ReportData

PAGE = "report.html.j2"


@cache
def environment() -> Environment:
    """Autoescaped (every value, whatever the template's name) and strict: a missing name is an error."""
    return Environment(
        loader=PackageLoader("targeting.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render_page(values: dict[str, Any]) -> str:
    """The page template filled from a context as `context.context` builds it."""
    return environment().get_template(PAGE).render(values)


def render(data: ReportData) -> str:
    """The whole page: no scripts, no external resources, every chart inline SVG."""
    return render_page(context(data))
