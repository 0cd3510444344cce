"""The OpenAPI document of the service: BentoML's, corrected to what the service really does.

BentoML declares error bodies with a string `detail` (schema errors send pydantic's list), leaves
request bodies optional (an empty one is a 400), and knows nothing of the gate's 413 and 415. The
served document also carries the served models' features (names, kinds, bounds, categories), so a
request valid against it is one the service accepts (checked by tests/serving/test_fuzz.py).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

ERROR_SCHEMAS = ("InvalidArgument", "NotFound", "InternalServerError")
DETAIL = {
    "anyOf": [
        {"type": "string"},
        {"type": "array", "items": {"type": "object"}, "description": "one entry per invalid field"},
    ],
    "title": "Error Detail",
}
GATE_ANSWERS = {
    "413": "Request body over serving.max_body_bytes",
    "415": "Content-Type is not application/json",
}


class Document:
    """What BentoML expects of `Service.openapi_spec`: an object whose asdict() is the document."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec

    def asdict(self) -> dict[str, Any]:
        return self.spec


def corrected(spec: Mapping[str, Any]) -> dict[str, Any]:
    """BentoML's document with the error bodies, required request bodies and gate answers fixed."""
    out = copy.deepcopy(dict(spec))
    schemas = out.get("components", {}).get("schemas", {})
    for name in ERROR_SCHEMAS:
        if name in schemas:
            schemas[name]["properties"]["detail"] = copy.deepcopy(DETAIL)
    for operations in out.get("paths", {}).values():
        for operation in operations.values():
            operation["responses"] = {str(code): answer for code, answer in operation["responses"].items()}
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
                operation["responses"].update(_gate_answers())
    return out


def _gate_answers() -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/InvalidArgument"}}}
    return {
        code: {"description": text, "content": copy.deepcopy(error)} for code, text in GATE_ANSWERS.items()
    }


def with_features(spec: Mapping[str, Any], features: type[BaseModel]) -> dict[str, Any]:
    """The document with `CustomerFeatures.features` described by the served models' features."""
    out = copy.deepcopy(dict(spec))
    schema = features.model_json_schema()
    schema["description"] = "every feature of the served models; null = missing (GET /model_info)"
    out["components"]["schemas"]["CustomerFeatures"]["properties"]["features"] = schema
    return out
