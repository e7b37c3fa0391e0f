"""The OpenAPI document says what the service really answers: every problem response, as problem+json, and
parameters as they can be sent.

Routes declare the statuses that belong to their use case (404, 409, 503 …); what every protected route can answer
(401 without a valid token, 403 for a role or an organisation it does not serve, 422 for a request that does not
validate, 404 for an unknown id in the path) is added here, once, for all services.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.common.problems import PROBLEM_MEDIA_TYPE

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": (
        "RFC 9457 problem details; `errors[].field` names the offending field (values are never echoed, nor keys the"
        " API does not declare: `<key>` stands for them)"
    ),
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "urn:ca.qc.rls:problem:<slug>"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "message", "type"],
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}, "type": {"type": "string"}},
            },
        },
    },
    "additionalProperties": True,
}

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}

DESCRIPTIONS = {
    "401": "No valid bearer token (missing, malformed, expired, wrong issuer, audience or key)",
    "403": "The caller's roles or organisation do not allow this",
    "404": "Not found (or not visible to the caller's organisation)",
    "409": "Conflict: the resource changed (If-Match), an Idempotency-Key reused, or refused in its state",
    "422": "The request does not validate (the problem names the field; duplicate JSON keys are refused)",
    "503": "A dependency is unreachable",
}


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": dict(PROBLEM_REF)}}


def _without_null(parameter: dict[str, Any]) -> None:
    """An optional query or header parameter is absent or a string: `null` cannot be sent in either."""
    schema: dict[str, Any] = parameter.get("schema", {})
    variants = schema.get("anyOf")
    if parameter.get("required") or parameter.get("in") not in ("query", "header") or not variants:
        return
    kept = [variant for variant in variants if variant != {"type": "null"}]
    rest = {key: value for key, value in schema.items() if key != "anyOf"}
    parameter["schema"] = rest | (kept[0] if len(kept) == 1 else {"anyOf": kept})


def _document_operation(path: str, operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        _without_null(parameter)
    responses: dict[str, Any] = operation.setdefault("responses", {})
    if operation.get("security"):
        wanted = {"401", "403"}
        if operation.get("parameters") or operation.get("requestBody"):
            wanted.add("422")
        if "{" in path:
            wanted.add("404")
        headers = {p["name"].lower() for p in operation.get("parameters", []) if p.get("in") == "header"}
        if headers & {"if-match", "idempotency-key"}:
            wanted.add("409")  # a stale version, or a key reused for another request
        for status in wanted:
            responses.setdefault(status, {})
    for status, response in responses.items():
        if status[0] in "45":
            response["description"] = response.get("description") or DESCRIPTIONS.get(status, "Problem")
            if response["description"] in ("Validation Error", "Successful Response"):
                response["description"] = DESCRIPTIONS.get(status, "Problem")
            response["content"] = _problem_content()


def document_problems(app: FastAPI) -> None:
    """Makes `app.openapi()` declare every problem response of every operation as `application/problem+json`."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generate()
        for path, operations in schema.get("paths", {}).items():
            for operation in operations.values():
                _document_operation(path, operation)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for unused in ("HTTPValidationError", "ValidationError"):
            components.pop(unused, None)
        components["Problem"] = PROBLEM_SCHEMA
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
