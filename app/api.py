"""HTTP endpoints: /api/detect, /api/health, /api/ready, /api/info, /api/openapi.json, /metrics (files: results.py)."""

from __future__ import annotations

import logging
import platform
import socket
from importlib import metadata

from flask import Blueprint, Response, current_app, g, jsonify, request

from app.errors import ApiError, error_response
from app.inputs import (
    DetectRequest,
    output_target,
    parse_detect_request,
    read_image_file,
    resolve_image_path,
    upload_relative_name,
)
from app.metrics import Metrics
from app.model_service import ModelNotReadyError, ModelService, ModelState, UnknownModelError
from app.observability import request_id
from app.openapi import ModelInfoJSON, openapi_spec
from detector import Detector, ImageDecodeError, ImageTooLargeError, ResultJSON, StageTimer
from detector.slots import InferenceSlots, Reservation, SlotsFullError
from measure.sysinfo import machine

log = logging.getLogger(__name__)
bp = Blueprint("api", __name__, url_prefix="/api")
metrics_bp = Blueprint("metrics", __name__)


def _service() -> ModelService:
    return current_app.extensions["model_service"]


def _slots() -> InferenceSlots:
    return current_app.extensions["slots"]


def _not_ready_message(service: ModelService) -> str:
    if service.state == "failed":
        return f"model failed to load: {service.error}"
    return "model is loading; retry when GET /api/ready answers 200"


@bp.post("/detect")
def detect() -> Response:
    """Detect objects in an image given by path (input=...) or uploaded; write and return the result JSON."""
    parsed = parse_detect_request(request)
    service = _service()
    try:
        model = service.resolve(parsed.model)
    except UnknownModelError:
        raise ApiError(400, f"unknown model {parsed.model!r:.80}; this node has: {', '.join(service.names)}") from None
    if service.state == "loading":
        # A request that arrives while this worker warms up is served late rather than refused.
        service.wait(current_app.config["READY_WAIT_SECONDS"])
    try:
        detector = service.detector(model)
    except ModelNotReadyError:
        return error_response(503, _not_ready_message(service))
    metrics: Metrics = current_app.extensions["metrics"]
    try:
        # A place in the queue before any work: a full node answers at once, before reading or decoding.
        with _slots().reserve() as reservation:
            # With several models, each keeps its own results: OUTPUT_DIR/<model>/... never collide.
            record, body = _run(detector, parsed, reservation, model if len(service.names) > 1 else None)
    except SlotsFullError as exc:
        metrics.shed.inc()
        return error_response(503, f"{exc}; retry later or elsewhere", code="overloaded", retry_after=exc.retry_after)
    metrics.observe_stages(record["timings"], model)
    metrics.images.labels("path" if parsed.input_path is not None else "upload", model).inc()
    g.log_fields = {
        "file": record["file"],
        "model": model,
        "objects": record["objects_found"],
        "timings": record["timings"],
        "image_saved": parsed.save_image,
    }
    return Response(body, status=200, mimetype="application/json")


def _run(
    detector: Detector, parsed: DetectRequest, reservation: Reservation, output_folder: str | None
) -> tuple[ResultJSON, bytes]:
    """Read (path mode) and detect one image, writing its outputs (under `output_folder` of OUTPUT_DIR when
    given); ApiError for what the client sent."""
    cfg = current_app.config
    timer = StageTimer()  # path mode: reading the file counts as decode; uploads start after receipt
    if parsed.input_path is not None:
        with timer.stage("decode"):
            path, relative = resolve_image_path(cfg["IMAGES_DIR"], parsed.input_path)
            source = read_image_file(path, parsed.input_path, cfg["MAX_CONTENT_LENGTH"])
        input_name = parsed.input_path
    else:
        relative = upload_relative_name(parsed.upload_name)
        source = parsed.upload or b""  # parse_detect_request sets one of input_path and upload
        input_name = parsed.upload_name
    out = f"{output_folder}/{relative}" if output_folder else relative
    target = output_target(cfg["OUTPUT_DIR"], out, parsed.save_image)
    try:
        return detector.process(
            source, target, input_name, relative, timer=timer, request_id=request_id(), reservation=reservation
        )
    except ImageTooLargeError as exc:
        raise ApiError(422, str(exc), "image_too_large") from None
    except ImageDecodeError as exc:
        raise ApiError(422, f"{input_name or 'upload'!s}: {exc}"[:500]) from None


@bp.get("/health")
def health() -> Response:
    """The process is alive (says nothing about the model)."""
    return jsonify(status="ok", node=socket.gethostname())


@bp.get("/ready")
def ready() -> Response:
    """200 once the model is loaded and warmed up; 503 before (or after a failed load), and while saturated."""
    service = _service()
    if not service.ready:
        return error_response(503, _not_ready_message(service))
    queue = _slots().snapshot()
    if queue.saturated:  # a saturated node leaves a load balancer's rotation until it catches up
        return error_response(
            503,
            f"the node is saturated: {queue.busy} image(s) in the model and {queue.waiting} waiting",
            code="overloaded",
            retry_after=max(1.0, queue.service_seconds),
        )
    return jsonify(status="ready", model=service.handle, models=service.names, node=socket.gethostname())


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _model_info(model: ModelState, default: str) -> ModelInfoJSON:
    """One model as /api/models and /api/info describe it (family, signature, labels once it loaded)."""
    loaded = model.detector.model if model.detector is not None else None
    return {
        "name": model.spec.name,
        "handle": model.spec.handle,
        "default": model.spec.name == default,
        "state": model.state,
        "family": getattr(loaded, "family", None),
        "signature": getattr(loaded, "signature_name", None),
        "label_count": getattr(loaded, "label_count", None),
        "load_seconds": model.load_seconds,
        "warmup_seconds": model.warmup_seconds,
        "error": model.error,
    }


@bp.get("/models")
def models() -> Response:
    """Every model of this node, the default first: name, handle, family, labels, load and warm-up seconds."""
    service = _service()
    return jsonify(models=[_model_info(m, service.default) for m in service.models.values()])


@bp.get("/info")
def info() -> Response:
    """Models, versions, limits, hardware and TensorFlow devices of this node (`model` is the default model)."""
    service = _service()
    cfg = current_app.config
    described = [_model_info(m, service.default) for m in service.models.values()]
    return jsonify(
        node=socket.gethostname(),
        model=described[0],
        models=described,
        versions={
            "python": platform.python_version(),
            **{
                name: _version(name)
                for name in ("tensorflow", "tensorflow-hub", "pillow", "flask", "gunicorn", "numpy")
            },
        },
        limits={
            "max_upload_mb": cfg["MAX_UPLOAD_MB"],
            "max_image_side": cfg["MAX_IMAGE_SIDE"],
            "max_image_pixels": cfg["MAX_IMAGE_PIXELS"],
            "min_score": cfg["MIN_SCORE"],
            "max_boxes": cfg["MAX_BOXES"],
            "inference_concurrency": cfg["INFERENCE_CONCURRENCY"],
            "max_queue": cfg["MAX_QUEUE"],
            "max_queue_wait": cfg["MAX_QUEUE_WAIT"],
            "body_min_rate": cfg["BODY_MIN_RATE"],
            "body_timeout": cfg["BODY_TIMEOUT"],
        },
        queue=_queue_info(),
        images_dir=cfg["IMAGES_DIR"],
        output_dir=cfg["OUTPUT_DIR"],
        machine=machine(),
        tensorflow=service.devices,
    )


def _queue_info() -> dict[str, float | int]:
    q = _slots().snapshot()
    return {"busy": q.busy, "waiting": q.waiting, "service_seconds": round(q.service_seconds, 6)}


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 description of this API."""
    return jsonify(openapi_spec())


@metrics_bp.get("/metrics")
def metrics() -> Response:
    """Prometheus metrics, merged over all workers of this node."""
    body, content_type = current_app.extensions["metrics"].exposition()
    return Response(body, status=200, content_type=content_type)
