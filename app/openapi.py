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
    "ResultList": {
        "type": "object",
        "required": ["kind", "offset", "limit", "total", "items"],
        "properties": {
            "kind": {"type": "string", "enum": ["result", "report"]},
            "offset": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1},
            "total": {"type": "integer", "minimum": 0, "description": "files of this kind under OUTPUT_DIR"},
            "items": {
                "type": "array",
                "description": "newest first (by modification time)",
                "items": {
                    "type": "object",
                    "required": ["kind", "path", "url", "modified", "size"],
                    "properties": {
                        "kind": {"type": "string", "enum": ["result", "report"]},
                        "path": {"type": "string", "description": "the file's path under OUTPUT_DIR"},
                        "url": {"type": "string", "description": "/api/results/<path>"},
                        "modified": {"type": "string", "format": "date-time"},
                        "size": {"type": "integer", "minimum": 0},
                        "objects_found": {"type": "integer", "nullable": True},
                        "labels": {"type": "array", "items": _STRING},
                        "annotated_image_url": {"type": "string", "description": "empty when none was saved"},
                        "file": _STRING,
                        "created_at": _STRING,
                    },
                },
            },
        },
    },
    "Info": {
        "type": "object",
        "required": ["node", "model", "versions", "limits", "machine", "tensorflow"],
        "properties": {
            "node": _STRING,
            "model": {"$ref": "#/components/schemas/Model"},
            "models": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}},
            "versions": {"type": "object"},
            "limits": {"type": "object"},
            "images_dir": _STRING,
            "output_dir": _STRING,
            "machine": {
                "type": "object",
                "description": "The hardware the node runs on (measure/sysinfo.py machine())",
                "required": ["cpu", "cores", "cores_usable", "memory_gib", "kernel", "os", "arch"],
                "properties": {
                    "cpu": {**_STRING, "description": "CPU model name"},
                    "cores": {"type": "integer", "nullable": True, "description": "logical CPUs of the machine"},
                    "cores_usable": {"type": "integer", "nullable": True, "description": "CPUs this process may use"},
                    "memory_gib": {**_NUMBER, "nullable": True, "description": "total memory, GiB"},
                    "kernel": _STRING,
                    "os": _STRING,
                    "arch": _STRING,
                },
            },
            "tensorflow": {
                "type": "object",
                "nullable": True,
                "description": "TensorFlow's devices in the worker that answered, read once its model loaded "
                "(null before that)",
                "required": ["device", "gpus", "cpus", "built_with_cuda", "version"],
                "properties": {
                    "device": {**_STRING, "description": "where models run: GPU:0 when there is a GPU, else CPU:0"},
                    "gpus": {"type": "array", "items": _STRING, "description": "GPU names"},
                    "cpus": {"type": "integer"},
                    "built_with_cuda": {"type": "boolean"},
                    "version": _STRING,
                },
            },
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
                    "summary": "Model, versions, limits, hardware and TensorFlow devices",
                    "responses": {"200": _json("Info", "Node information"), **protected},
                }
            },
            "/api/results": {
                "get": {
                    "summary": "Result JSON (kind=result) or report.html files (kind=report) under OUTPUT_DIR, "
                    "newest first, a page at a time",
                    "parameters": [
                        {
                            "name": "kind",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "string", "enum": ["result", "report"], "default": "result"},
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 0, "maximum": 1_000_000_000, "default": 0},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "required": False,
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
                        },
                    ],
                    "responses": {
                        "200": _json("ResultList", "One page of the listing"),
                        "400": _error("Bad parameters"),
                        **protected,
                    },
                }
            },
            "/api/results/{rel}": {
                "get": {
                    "summary": "One file under OUTPUT_DIR: an annotated image, a result JSON, a report",
                    "description": "The URLs come from a result JSON (result_url, annotated_image_url). The path is "
                    "resolved inside OUTPUT_DIR with path mode's refusals.",
                    "parameters": [
                        {
                            "name": "rel",
                            "in": "path",
                            "required": True,
                            "description": "The path under OUTPUT_DIR, as in annotated_image_url and result_url",
                            "schema": _STRING,
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The file, with the content type of its name, never cached",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/DetectionResult"}},
                                "image/*": {"schema": {"type": "string", "format": "binary"}},
                                "*/*": {"schema": {"type": "string", "format": "binary"}},
                            },
                        },
                        "400": _error(
                            "Not a regular file (a folder, FIFO, device), a NUL byte, not UTF-8, or over 4096 chars"
                        ),
                        "403": _error("The path resolves outside OUTPUT_DIR (.., an absolute path, a link out)"),
                        "404": _error("No such file, or a hidden name (a write in progress)"),
                        **protected,
                    },
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
