"""The API's document and page (issue 19, item 4): every route, every field described with an
example, the key as a security scheme, the error answers with their bodies; docs/openapi.json is
the served document; `/` leads to our page, which needs nothing from the network.

The service's modules are imported inside the tests, and serving.http not at all: prometheus_client
imported before BentoML (or Feast) set PROMETHEUS_MULTIPROC_DIR keeps its metrics in memory, and
/metrics came out empty for the service tests that ran after this module was collected."""

from __future__ import annotations

import json
import re
from importlib import metadata
from typing import Any

import pytest
from helpers.project import REPO
from starlette.testclient import TestClient

COMMITTED = REPO / "docs" / "openapi.json"
ROUTES = {"/score", "/score_features", "/model_info", "/livez", "/readyz", "/metrics"}
PROTECTED = {"/score", "/score_features", "/model_info"}  # the key is checked there (serving/http.py)
INTERNAL = ("IODescriptor", "TaskStatusResponse", "SPEC section", "journey:dev", "BentoML Team", "badge")
DECLARED = {  # path -> error statuses a client of that route must be able to read
    "/score": {"400", "401", "413", "415", "503"},
    "/score_features": {"400", "401", "413", "415"},
    "/model_info": {"401"},
    "/readyz": {"503"},
}


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        section, _, name = node["$ref"].removeprefix("#/components/").partition("/")
        node = spec["components"][section][name]
    return node


def _unexplained(spec: dict[str, Any], name: str, schema: dict[str, Any]) -> list[str]:
    """Fields without a description, or without an example (their own, or one Swagger UI composes
    from the fields of the object they refer to)."""
    out = []
    for field, prop in schema.get("properties", {}).items():
        composed = "$ref" in prop.get("items", {}) or "properties" in prop
        if not prop.get("description") or not (prop.get("examples") or composed):
            out.append(f"{name}.{field}")
        if "properties" in prop:
            out += _unexplained(spec, f"{name}.{field}", prop)
    return out


def example(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """The example body Swagger UI composes for a schema: each field's first example, else its parts'."""
    schema = _resolve(spec, schema)
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("type") == "array":
        return [example(spec, schema["items"])]
    return {field: example(spec, prop) for field, prop in schema["properties"].items()}


def test_the_document_covers_every_route_and_names_journey():
    from serving.openapi import document

    spec = document()
    assert set(spec["paths"]) == ROUTES
    assert spec["info"]["title"] == "Journey" and spec["info"]["version"] == metadata.version("journey")
    text = json.dumps(spec)
    assert not [name for name in INTERNAL if name in text]


def test_every_field_has_a_description_and_an_example():
    from serving.openapi import document

    spec = document()
    schemas = spec["components"]["schemas"]
    assert {"ScoreRequest", "ScoreResponse", "CustomerScore", "Reason", "ModelInfo", "Error"} <= set(schemas)
    assert [f for name, s in schemas.items() for f in _unexplained(spec, name, s)] == []


def test_the_key_is_a_declared_security_scheme_of_the_protected_routes():
    from serving.openapi import document

    spec = document()
    scheme = spec["components"]["securitySchemes"]["ApiKey"]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "X-API-Key")
    for path, operations in spec["paths"].items():
        for operation in operations.values():
            expected = [{"ApiKey": []}, {"Bearer": []}] if path in PROTECTED else None
            assert operation.get("security") == expected, path


@pytest.mark.parametrize(("path", "codes"), sorted(DECLARED.items()))
def test_error_answers_are_declared_with_their_bodies(path, codes):
    from serving.openapi import document

    spec = document()
    (operation,) = spec["paths"][path].values()
    assert codes <= set(operation["responses"])
    for code in codes:
        answer = _resolve(spec, operation["responses"][code])
        ((media, content),) = answer["content"].items()
        assert answer["description"] and content["example"]
        if media == "application/json":
            assert _resolve(spec, content["schema"])["required"] == ["error"]
            assert isinstance(content["example"]["error"], str)


def test_the_gate_answers_are_documented_once_for_every_path():
    from serving.openapi import ERRORS, document

    responses = document()["components"]["responses"]
    for code in ("404", "405", "413", "415"):
        assert ERRORS[code].name in responses


@pytest.fixture(scope="module")
def client(trained, service_app):
    mp = pytest.MonkeyPatch()
    mp.setenv("JOURNEY_CONFIG", str(trained.config))
    mp.delenv("JOURNEY_API_KEY", raising=False)
    with TestClient(service_app()) as c:
        yield c
    mp.undo()


def test_the_served_document_is_docs_openapi_json_with_the_served_features(client):
    """docs/openapi.json is regenerated with `.venv/bin/journey openapi` (it writes docs/openapi.json)."""
    served = client.get("/docs.json").json()
    committed = json.loads(COMMITTED.read_text())
    features = served["components"]["schemas"]["CustomerFeatures"]["properties"].pop("features")
    committed["components"]["schemas"]["CustomerFeatures"]["properties"].pop("features")
    assert served == committed, "docs/openapi.json is stale: run `.venv/bin/journey openapi`"
    names = client.get("/model_info").json()["models"][0]["features"]
    assert set(names) <= set(features["properties"]) and features["additionalProperties"] is False
    assert _unexplained(served, "features", features) == []


@pytest.mark.parametrize(
    ("path", "schema"), [("/score", "ScoreRequest"), ("/score_features", "ScoreFeaturesRequest")]
)
def test_the_example_bodies_of_the_page_are_accepted(client, path, schema):
    served = client.get("/docs.json").json()
    body = example(served, served["components"]["schemas"][schema])
    r = client.post(path, json=body)
    assert r.status_code == 200, r.text
    assert len(r.json()["scores"]) == len(body.get("customer_ids") or body["customers"])


def test_home_leads_to_our_page_whose_files_come_from_the_service(client):
    from serving.openapi import ASSETS

    home = client.get("/", follow_redirects=False)
    assert home.status_code == 307 and home.headers["location"] == "/docs"
    page = client.get("/docs")
    assert (
        page.status_code == 200 and f"<title>Journey {metadata.version('journey')} API</title>" in page.text
    )
    links = re.findall(r'(?:src|href)="([^"]*)"', page.text) + re.findall(r"url: '([^']*)'", page.text)
    assert sorted(links) == sorted(["/docs.json", *(f"/docs/{name}" for name in ASSETS)])
    for name, media in ASSETS.items():
        asset = client.get(f"/docs/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(media)
        assert len(asset.content) > 1000


@pytest.mark.parametrize(
    "path", ["/openapi.json", "/redoc", "/schema.json", "/healthz", "/static_content/index.css", "/docs/x.js"]
)
def test_other_pages_of_the_frameworks_are_gone(client, path):
    r = client.get(path)
    assert r.status_code == 404 and "/docs" in r.json()["error"]
