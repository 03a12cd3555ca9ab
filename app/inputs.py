"""Turning a request into a safe image source and output target (all validation lives here)."""

from __future__ import annotations

import os
import stat
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from flask import Request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import secure_filename

from app.errors import ApiError
from detector import OutputNameError, OutputTarget
from detector import output_target as detector_output_target

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off"}
ALLOWED_PARAMS = {"input", "output", "image", "model"}
MAX_INPUT_LENGTH = 4096


@dataclass
class DetectRequest:
    """What the client asked for: a path inside the images root or uploaded bytes, and `output`."""

    save_image: bool
    input_path: str | None = None  # path mode: the client's `input`, as given
    upload: bytes | None = None  # upload mode: the image bytes
    upload_name: str = ""
    model: str | None = None  # the model's name (MODELS); None: the node's default


def parse_bool(name: str, value: object) -> bool:
    """`1/true/yes/on` -> True, `0/false/no/off` -> False (any case); anything else is a 400."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ApiError(400, f"{name} must be one of 1/true/yes/on or 0/false/no/off, not {str(value)[:40]!r}")


def _collect_params(request: Request) -> dict[str, object]:
    """Merge query string, form and JSON body; a name given twice (anywhere) is a 400."""
    params: dict[str, object] = {}
    sources = [request.args.lists()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form.lists())
    for pairs in sources:
        for name, values in pairs:
            if name in params or len(values) > 1:
                raise ApiError(400, f"parameter {name!r} given more than once")
            params[name] = values[0]
    if request.mimetype == "application/json":
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # deeply nested JSON
            body = None
        if not isinstance(body, dict):
            raise ApiError(400, 'the JSON body must be an object such as {"input": "a.jpg", "output": true}')
        for name, value in body.items():
            if name in params:
                raise ApiError(400, f"parameter {name!r} given more than once")
            params[name] = value
    unknown = sorted(set(params) - ALLOWED_PARAMS)
    if unknown:
        raise ApiError(
            400, f"unknown parameter(s) {', '.join(repr(u[:40]) for u in unknown)}; allowed: input, output, model"
        )
    return params


def _refuse_cut_body(request: Request) -> None:
    """413 for a chunked body (no Content-Length) that Werkzeug cut at MAX_CONTENT_LENGTH."""
    limit = request.max_content_length
    if request.content_length is None and limit is not None and getattr(request.stream, "is_exhausted", False):
        raise RequestEntityTooLarge()


def parse_detect_request(request: Request) -> DetectRequest:
    """Read `input`/`output`/`model` and an optional upload from any of the accepted request forms."""
    if request.mimetype == "multipart/form-data" and (None in request.form or None in request.files):
        raise ApiError(400, "every multipart part needs a name")
    params = _collect_params(request)
    _refuse_cut_body(request)
    save_image = parse_bool("output", params["output"]) if "output" in params else False
    model = params.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise ApiError(400, "model must be the name of one of the node's models (GET /api/models lists them)")
    files = request.files.getlist("image") if request.mimetype == "multipart/form-data" else []
    extra_files = [name for name in request.files if name != "image"] if files or request.files else []
    if extra_files:
        raise ApiError(400, f"unknown upload field(s) {', '.join(repr(n[:40]) for n in extra_files)}; use 'image'")
    if len(files) > 1:
        raise ApiError(400, "upload exactly one file in field 'image'")
    raw_upload = request.mimetype.startswith("image/")
    has_input = "input" in params
    if has_input and (files or raw_upload):
        raise ApiError(400, "give either 'input' (a path) or an uploaded image, not both")
    if has_input:
        value = params["input"]
        if not isinstance(value, str) or not value.strip():
            raise ApiError(400, "input must be a non-empty path inside the images folder")
        return DetectRequest(save_image=save_image, input_path=value, model=model)
    if files:
        upload = files[0]
        return DetectRequest(
            save_image=save_image, upload=upload.read(), upload_name=upload.filename or "", model=model
        )
    if raw_upload:
        data = request.get_data(cache=False)
        _refuse_cut_body(request)
        return DetectRequest(save_image=save_image, upload=data, upload_name="", model=model)
    if request.mimetype in ("", "application/x-www-form-urlencoded", "multipart/form-data", "application/json"):
        raise ApiError(
            400, "missing image: send input=<path inside the images folder>, or upload a file in field 'image'"
        )
    raise ApiError(
        415,
        f"unsupported content type {request.mimetype[:60]!r}: use a form (input=...), multipart with an "
        "'image' file, JSON, or a raw body with an image/* content type",
    )


def resolve_inside(
    root_dir: str, raw: str, folder: str, name: str = "input", utf8_advice: str = ""
) -> tuple[Path, str]:
    """The real path of `raw` (absolute, or relative to `root_dir`) and its path relative to the root.

    403 if it resolves (symlinks included) outside the root; 404 if missing; 400 if not a regular file
    (folders, FIFOs, devices, link loops), for NUL bytes, text that is not UTF-8, or over-long paths.
    `folder` and `name` only word the messages ("the images folder", "input").
    """
    if len(raw) > MAX_INPUT_LENGTH:
        raise ApiError(400, f"{name} is longer than {MAX_INPUT_LENGTH} characters")
    if "\x00" in raw:
        raise ApiError(400, f"{name} contains a NUL byte")
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: no file name we could open or report
        raise ApiError(400, f"{name} is not valid UTF-8 text{utf8_advice}") from None
    root = os.path.realpath(root_dir)
    candidate = raw if os.path.isabs(raw) else os.path.join(root, raw)
    real = os.path.realpath(candidate)
    if real != root and os.path.commonpath([root, real]) != root:
        raise ApiError(403, f"{name} {raw!r} is outside {folder}")
    try:
        info = os.stat(real)
    except FileNotFoundError:
        raise ApiError(404, f"{name} {raw!r} does not exist") from None
    except OSError:
        raise ApiError(400, f"{name} {raw!r} cannot be read") from None
    if not stat.S_ISREG(info.st_mode):
        raise ApiError(400, f"{name} {raw!r} is not a regular file")
    return Path(real), os.path.relpath(real, root)


def resolve_image_path(images_root: str, raw: str) -> tuple[Path, str]:
    """Path mode: `raw` inside IMAGES_DIR (see resolve_inside)."""
    return resolve_inside(images_root, raw, "the images folder", utf8_advice="; send such files as uploads")


def resolve_result_path(output_root: str, raw: str) -> tuple[Path, str]:
    """GET /api/results/NAME: a result file inside OUTPUT_DIR, with path mode's refusals (resolve_inside).

    Names with a part that starts with a dot are 404: they are the atomic writes' unfinished temp files.
    """
    path, relative = resolve_inside(output_root, raw, "the output folder", "result")
    if any(part.startswith(".") for part in Path(relative).parts):
        raise ApiError(404, f"result {raw[:200]!r} does not exist")
    return path, relative


def open_regular_file(path: Path, raw: str, name: str = "input") -> BinaryIO:
    """Open a checked path without following a link swapped in after the check; 400 if it is not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        raise ApiError(400, f"{name} {raw!r} cannot be opened") from None
    fh = os.fdopen(fd, "rb")
    if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
        fh.close()
        raise ApiError(400, f"{name} {raw!r} is not a regular file")
    return fh


def read_image_file(path: Path, raw: str, limit: int) -> bytes:
    """Read a regular file without following a link swapped in after the check; 413 over `limit` bytes."""
    with open_regular_file(path, raw) as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ApiError(413, f"input {raw!r} is larger than the {limit // (1024 * 1024)} MB limit")
    return data


def output_target(output_root: str, relative: str, save_image: bool) -> OutputTarget:
    """detector.output_target, with a name too long for its result JSON answered as a 400."""
    try:
        return detector_output_target(output_root, relative, save_image)
    except OutputNameError as exc:
        raise ApiError(400, str(exc)) from None


def upload_relative_name(filename: str) -> str:
    """`uploads/<UTC time>-<random>-<sanitised name>`: unique, and never a path the client chose."""
    safe = secure_filename(filename)[-100:] or "upload"
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"uploads/{stamp}-{uuid.uuid4().hex[:8]}-{safe}"
