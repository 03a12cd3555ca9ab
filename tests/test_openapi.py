"""The OpenAPI document matches what a real node answers (schemathesis against real gunicorn)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, get_type_hints

import jsonschema_rs
import pytest

from app.openapi import openapi_spec, type_schema
from detector.result import ResultJSON, TimingsJSON

CONFIG = Path(__file__).parent / "data" / "schemathesis.toml"


def test_served_document_is_the_spec(node):
    served = node.get("/api/openapi.json")
    assert served.status_code == 200 and served.json() == openapi_spec()


# The web pages and their assets (app/web.py, Flask's static files) are not API routes: the document
# describes /api/* and /metrics, and every other route must be one of these.
PAGE_ENDPOINTS = {"static", "web.index", "web.results", "web.viewer", "web.docs", "web.docs_asset"}


def test_document_lists_every_route(app):
    rules = list(app.url_map.iter_rules())
    api_routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule) for rule in rules if rule.endpoint not in PAGE_ENDPOINTS
    }
    assert api_routes == set(openapi_spec()["paths"])
    pages = [rule.rule for rule in rules if rule.endpoint in PAGE_ENDPOINTS]
    assert "/" in pages and "/docs" in pages
    assert not any(page.startswith("/api/") or page == "/metrics" for page in pages)


def test_schemathesis_finds_no_mismatch(node):
    """Every check but positive-data acceptance: the document cannot say "input in the query OR the
    body, never both", so schema-valid requests that give it twice are rightly refused with 400."""
    cli = Path(sys.executable).with_name("schemathesis")
    result = subprocess.run(
        [
            str(cli),
            "--config-file",
            str(CONFIG),
            "run",
            node.url + "/api/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            "60",
            "--workers",
            "1",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-5000:]
    generated = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert generated and int(generated.group(1)) >= 100 and generated.group(1) == generated.group(2)
    assert node.get("/api/ready").status_code == 200


def _json_schema(schema: Any) -> Any:
    """An OpenAPI 3.0 schema as plain JSON Schema: `nullable: true` becomes "or null", as OpenAPI defines it."""
    if isinstance(schema, list):
        return [_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    plain = {k: _json_schema(v) for k, v in schema.items() if k != "nullable"}
    return {"anyOf": [plain, {"type": "null"}]} if schema.get("nullable") else plain


def _validator(name: str):
    spec = _json_schema(openapi_spec())
    return jsonschema_rs.validator_for({**spec["components"]["schemas"][name], "components": spec["components"]})


def test_real_bodies_validate_against_their_schemas(node):
    ok = node.post("/api/detect", data={"input": "red.jpg", "output": "1"}).json()
    assert _validator("DetectionResult").is_valid(ok)
    assert _validator("Error").is_valid(node.post("/api/detect", data={"input": "../x"}).json())
    assert _validator("Info").is_valid(node.get("/api/info").json())
    assert not _validator("DetectionResult").is_valid({**ok, "detections": [{"label": "x"}]})


def test_result_schema_is_generated_from_the_one_result_definition(node):
    schema = openapi_spec()["components"]["schemas"]["DetectionResult"]
    keys = list(get_type_hints(ResultJSON))
    assert list(schema["properties"]) == keys
    assert set(schema["required"]) == set(keys) - {"request_id"}
    # A real answer has exactly the defined keys, in the defined order.
    answer = node.post("/api/detect", data={"input": "red.jpg"}).json()
    assert list(answer) == keys
    assert set(answer["timings"]) == set(get_type_hints(TimingsJSON))
    assert set(answer["detections"][0]) == set(schema["properties"]["detections"]["items"]["properties"])


def test_schema_of_an_annotation_covers_every_shape_the_result_uses():
    assert type_schema(Annotated[int, "n", {"minimum": 0}]) == {"type": "integer", "description": "n", "minimum": 0}
    assert type_schema(list[float]) == {"type": "array", "items": {"type": "number"}}
    assert type_schema(dict[str, int]) == {"type": "object", "additionalProperties": {"type": "integer"}}
    assert type_schema(str | None) == {"type": "string", "nullable": True}
    with pytest.raises(TypeError):
        type_schema(bytes)


def test_models_endpoint_answers_its_schema(node):
    body = node.get("/api/models").json()
    assert _validator("Models").is_valid(body)
    assert body["models"][0]["default"] is True and body["models"][0]["error"] is None
