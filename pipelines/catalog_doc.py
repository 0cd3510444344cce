"""Render the feature catalog as Markdown (docs/features.md is generated from the definitions)."""

from __future__ import annotations

from collections.abc import Sequence

from core.config import Demographic
from features.catalog import catalog

HEADER = """# Feature catalog

Generated from `features/catalog.py` by `journey features docs`; do not edit by hand.
Every feature is computed at a snapshot `s` (a midnight UTC) from records strictly before `s`;
"last w days" means `s - w days <= ts < s`. Recencies and tenure are whole days back from `s`.
Windows: `7d`/`30d`/`90d`/`365d` rolling windows, `all` all history before `s`, `static` a declared
attribute. Exact definitions: the module docstrings of `features/behavioural.py`,
`features/transactional.py` and the oracle in `tests/oracle.py`, which the tests hold equal.
"""


def catalog_markdown(demographics: Sequence[Demographic]) -> str:
    """One table per family: name, window, kind, meaning."""
    parts = [HEADER]
    families = catalog(demographics)
    total = sum(len(v) for v in families.values())
    parts.append(f"{total} features with the demographics of `configs/journey.yaml`.\n")
    for family, feats in families.items():
        parts.append(
            f"\n## {family} ({len(feats)})\n\n| feature | window | kind | meaning |\n|---|---|---|---|"
        )
        parts += [f"| `{f.name}` | {f.window} | {f.kind} | {f.description} |" for f in feats]
    return "\n".join(parts) + "\n"
