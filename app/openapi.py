"""OpenAPI 3 description of every endpoint (served at /api/openapi.json, checked against real answers).

The result schemas are generated from detector.result's TypedDicts, the one definition of the result JSON.
"""

from __future__ import annotations

import types
from typing import Annotated, Any, NotRequired, TypedDict, Union, get_args, get_origin, get_type_hints, is_typeddict

from detector.result import DetectionJSON, ResultJSON


class ModelInfoJSON(TypedDict):
    """One model of a node (GET /api/models, and /api/info's `model` and `models`)."""

    name: Annotated[str, "what requests pick it by (model=NAME)"]
    handle: Annotated[str, "where it was loaded from (MODELS or MODEL_HANDLE)"]
    default: Annotated[bool, "true for the model a request without `model` gets"]
    state: Annotated[str, "idle, loading, ready or failed"]
    family: Annotated[str | None, "openimages or tf2-detection-zoo, once loaded"]
    signature: Annotated[str | None, "the serving signature in use, once loaded"]
    label_count: Annotated[int | None, "classes in its label map; null when the model names its own classes"]
    load_seconds: Annotated[float | None, "seconds the load took in this worker"]
    warmup_seconds: Annotated[float | None, "seconds of its warm-up inference in this worker"]
    error: Annotated[str | None, "why it failed to load"]


_SCALARS: dict[Any, dict[str, Any]] = {
    int: {"type": "integer"},
    float: {"type": "number"},
    str: {"type": "string"},
    bool: {"type": "boolean"},
}


def type_schema(tp: Any) -> dict[str, Any]:
    """The JSON schema of one annotation: scalars, lists, dicts, nested TypedDicts, `X | None`, Annotated
    (whose first string is the description and whose dicts are extra constraints)."""
    origin = get_origin(tp)
    if origin is Annotated:
        base, *meta = get_args(tp)
        schema = dict(type_schema(base))
        for item in meta:
            if isinstance(item, str):
                schema["description"] = item
            elif isinstance(item, dict):
                schema.update(item)
        return schema
    if origin is NotRequired:
        return type_schema(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(tp) if a is not type(None)]
        schema = type_schema(options[0]) if len(options) == 1 else {"oneOf": [type_schema(a) for a in options]}
        return {**schema, "nullable": True} if len(options) < len(get_args(tp)) else schema
    if origin is list:
        return {"type": "array", "items": type_schema(get_args(tp)[0])}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(get_args(tp)[1])}
    if is_typeddict(tp):
        return typed_dict_schema(tp)
    if tp in _SCALARS:
        return dict(_SCALARS[tp])
    raise TypeError(f"no JSON schema for {tp!r}")


def typed_dict_schema(td: Any) -> dict[str, Any]:
    """An object schema with every key of the TypedDict `td`, the required ones listed."""
    hints = get_type_hints(td, include_extras=True)
    schema: dict[str, Any] = {"type": "object", "properties": {k: type_schema(v) for k, v in hints.items()}}
    required = [k for k in hints if k in td.__required_keys__]
    if required:
        schema["required"] = required
    if td.__doc__:
        schema["description"] = td.__doc__.strip()
    return schema


_NUMBER = {"type": "number"}
_STRING = {"type": "string"}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_ERROR_STATUSES = {
    "400": "Bad parameters",
    "401": "Missing or wrong API key (only when the node has API_KEY set)",
    "403": "The path resolves outside the images folder",
    "404": "No such file",
    "413": "Upload or file over MAX_UPLOAD_MB",
    "415": "Unsupported content type",
    "422": "Not a decodable image, or larger than MAX_IMAGE_PIXELS",
    "503": "Model not loaded yet (or failed to load)",
}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _json(schema_name: str, description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}},
    }


_MODEL_NAME = {
    "description": "The model to run, by name (GET /api/models lists them); absent = the node's default model. "
    "An unknown name is a 400 that lists the known ones.",
    "type": "string",
    "minLength": 1,
    "maxLength": 64,
}
_OUTPUT_FLAG = {
    "description": "Save the annotated image: 1/true/yes/on or 0/false/no/off (any case). Absent = no.",
    "type": "string",
    "enum": ["1", "true", "yes", "on", "0", "false", "no", "off"],
}
_INPUT_PATH = {
    "description": "Image path inside IMAGES_DIR, absolute or relative to it.",
    "type": "string",
    "minLength": 1,
    "maxLength": 4096,
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": _STRING, "message": _STRING},
            }
        },
    },
    "Detection": typed_dict_schema(DetectionJSON),
    "DetectionResult": typed_dict_schema(ResultJSON),
    "Health": {
        "type": "object",
        "required": ["status", "node"],
        "properties": {"status": {"type": "string", "enum": ["ok"]}, "node": _STRING},
    },
    "Ready": {
        "type": "object",
        "required": ["status", "model", "node"],
        "properties": {
            "status": {"type": "string", "enum": ["ready"]},
            "model": {**_STRING, "description": "the default model's handle"},
            "models": {"type": "array", "items": _STRING, "description": "every model's name, the default first"},
            "node": _STRING,
        },
    },
    "Model": typed_dict_schema(ModelInfoJSON),
    "Models": {
        "type": "object",
        "required": ["models"],
        "properties": {"models": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}}},
    },
    "Info": {
        "type": "object",
        "required": ["node", "model", "versions", "limits"],
        "properties": {
            "node": _STRING,
            "model": {"$ref": "#/components/schemas/Model"},
            "models": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
            "versions": {"type": "object"},
            "limits": {"type": "object"},
            "images_dir": _STRING,
            "output_dir": _STRING,
        },
    },
}


def openapi_spec(version: str = "1.0.0") -> dict[str, Any]:
    """The OpenAPI document."""
    detect_errors = {status: _error(text) for status, text in _ERROR_STATUSES.items()}
    protected = {"401": _error(_ERROR_STATUSES["401"])}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Object detection node",
            "version": version,
            "description": "Detect objects in an image given by path inside the node's images folder or uploaded.",
        },
        "paths": {
            "/api/detect": {
                "post": {
                    "summary": "Detect objects; write the result JSON (and the annotated image when output is on)",
                    "parameters": [
                        {
                            "name": "input",
                            "in": "query",
                            "required": False,
                            "schema": {
                                **_INPUT_PATH,
                                "maxLength": 2000,
                                "description": "As the form field; longer paths belong in the body (the request "
                                "line is limited to 8190 bytes, longer lines get 414)",
                            },
                        },
                        {"name": "output", "in": "query", "required": False, "schema": _OUTPUT_FLAG},
                        {"name": "model", "in": "query", "required": False, "schema": _MODEL_NAME},
                    ],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/x-www-form-urlencoded": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"input": _INPUT_PATH, "output": _OUTPUT_FLAG, "model": _MODEL_NAME},
                                }
                            },
                            "multipart/form-data": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "image": {"type": "string", "format": "binary"},
                                        "output": _OUTPUT_FLAG,
                                        "model": _MODEL_NAME,
                                    },
                                }
                            },
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "input": _INPUT_PATH,
                                        "output": {"oneOf": [{"type": "boolean"}, _OUTPUT_FLAG]},
                                        "model": _MODEL_NAME,
                                    },
                                }
                            },
                            "image/*": {"schema": {"type": "string", "format": "binary"}},
                        },
                    },
                    "responses": {
                        "200": _json("DetectionResult", "Detections, timings and output paths"),
                        **detect_errors,
                        "414": {
                            "description": "Request line over 8190 bytes (answered by gunicorn, as HTML)",
                            "content": {"text/html": {"schema": _STRING}},
                        },
                    },
                }
            },
            "/api/health": {"get": {"summary": "The process is alive", "responses": {"200": _json("Health", "Alive")}}},
            "/api/ready": {
                "get": {
                    "summary": "200 once the model is loaded and warmed up",
                    "responses": {"200": _json("Ready", "Ready"), "503": _error("Not ready"), **protected},
                }
            },
            "/api/models": {
                "get": {
                    "summary": "Every model of this node: name, handle, family, label count, load and warm-up seconds",
                    "responses": {"200": _json("Models", "The node's models, the default first"), **protected},
                }
            },
            "/api/info": {
                "get": {
                    "summary": "Model, versions and limits",
                    "responses": {"200": _json("Info", "Node information"), **protected},
                }
            },
            "/api/openapi.json": {
                "get": {
                    "summary": "This document",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3 document",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        **protected,
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "Prometheus text format",
                            "content": {"text/plain": {"schema": _STRING}},
                        },
                        **protected,
                    },
                }
            },
        },
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }
