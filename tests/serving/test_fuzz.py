"""The OpenAPI fuzzer: schemathesis against the service's own document, every check enabled.

Zero server errors, zero responses that break the document, zero valid requests rejected, and
every invalid one refused. The run is derandomised with a fixed number of examples per operation,
so CI sees the same cases each time (issue 17, item 14).
"""

from __future__ import annotations

import collections
import os

import pytest
import schemathesis
from schemathesis.engine import Status, events
from schemathesis.python.asgi import shutdown_lifespans

EXAMPLES = 40  # per operation and phase; the figures in docs/reliability.md come from this run
SEED = 17
KEY = "fuzz-key"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api_schema(trained, service_app):
    """The served document (/docs.json, with the served models' features) over the in-process app,
    which has an API key: schemathesis sends it, and checks that a request without it is refused."""
    mp = pytest.MonkeyPatch()
    mp.setenv("JOURNEY_CONFIG", str(trained.config))
    mp.setenv("JOURNEY_API_KEY", KEY)
    loaded = schemathesis.openapi.from_asgi("/docs.json", service_app())
    loaded.config.update(headers={"X-API-Key": KEY})
    loaded.config.generation.update(max_examples=EXAMPLES, deterministic=True, database="none")
    loaded.config.seed = SEED
    yield loaded
    shutdown_lifespans()
    mp.undo()


def fuzz(api_schema) -> tuple[collections.Counter[tuple[str, int]], list[str]]:
    """Run every phase of schemathesis with every built-in check (all enabled by default): the
    responses by (operation, status) and one line per failed check or engine error."""
    outcomes: collections.Counter[tuple[str, int]] = collections.Counter()
    problems: list[str] = []
    for event in schemathesis.engine.from_schema(api_schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for case_id, interaction in recorder.interactions.items():
                status = interaction.response.status_code if interaction.response else 0
                outcomes[(recorder.cases[case_id].value.operation.label, status)] += 1
            problems += [
                f"{recorder.label}: {check.name}: {check.failure_info and check.failure_info.failure.title}"
                for checks in recorder.checks.values()
                for check in checks
                if check.status == Status.FAILURE
            ]
        elif isinstance(event, events.NonFatalError | events.FatalError):
            problems.append(f"engine error: {event!r}"[:500])
    return outcomes, problems


def test_the_service_keeps_its_openapi_contract(api_schema):
    outcomes, problems = fuzz(api_schema)
    if os.environ.get("JOURNEY_FUZZ_SUMMARY"):  # the figures for docs/reliability.md
        for (operation, status), n in sorted(outcomes.items()):
            print(f"{operation}\t{status}\t{n}")
    assert not problems, "\n".join(sorted(set(problems)))
    assert not [o for o in outcomes if o[1] >= 500], outcomes
    assert sum(outcomes.values()) > 100, outcomes  # the run did send requests
