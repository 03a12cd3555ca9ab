"""Flask app factory for a detection node.

The gunicorn master imports app.config (and so this package) before it forks: everything
heavier is imported inside create_app, which runs in each worker. That keeps TensorFlow out of
the master and lets prometheus-client see PROMETHEUS_MULTIPROC_DIR, which it reads at import.
"""

from __future__ import annotations

import logging
import os
from dataclasses import fields, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app from the environment (or `test_config`) and start loading this process's model.

    `test_config` may hold any Flask config key, plus DETECTOR (a ready Detector: nothing is
    loaded), DETECTORS (ready Detectors by model name, each with that `model_name`) and
    EXIT_ON_LOAD_FAILURE (default True: a worker whose model fails stops gunicorn).
    """
    from flask import Flask

    from app.api import bp, metrics_bp
    from app.auth import register_auth
    from app.config import ModelSpec, Settings
    from app.errors import register_error_handlers
    from app.listing import bp as listing_bp
    from app.metrics import Metrics
    from app.model_service import ModelService, ModelState, exit_worker
    from app.observability import register_observability
    from app.results import bp as results_bp
    from app.web import bp as web_bp
    from app.web import register_security_headers
    from detector.slots import InferenceSlots

    app = Flask(__name__)
    settings = Settings.from_env()
    if test_config:  # settings given by a test override the environment's, for the detector options too
        known = {f.name for f in fields(Settings)}
        settings = replace(settings, **{k.lower(): v for k, v in test_config.items() if k.lower() in known})
    app.config.from_mapping(settings.flask_config())
    app.config["EXIT_ON_LOAD_FAILURE"] = True
    if test_config:
        app.config.update(test_config)
    # Werkzeug refuses larger bodies with 413 before reading them.
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_UPLOAD_MB"] * 1024 * 1024)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # DefaultJSONProvider's setting; Flask types it as the base

    os.makedirs(app.config["OUTPUT_DIR"], exist_ok=True)
    if not os.path.isdir(app.config["IMAGES_DIR"]):
        log.warning("IMAGES_DIR %s does not exist: path requests will answer 404", app.config["IMAGES_DIR"])

    options = settings.detector_options()
    specs = settings.model_specs()
    detectors = app.config.get("DETECTORS")
    if detectors:
        specs = [ModelSpec(name, d.model.handle) for name, d in detectors.items()]
    elif app.config.get("DETECTOR") is not None:
        detectors = {specs[0].name: app.config["DETECTOR"]}
    service = ModelService(options, specs, detectors=detectors, tfhub_hosts=settings.tfhub_host_list)
    app.extensions["model_service"] = service
    metrics = Metrics()
    app.extensions["metrics"] = metrics
    app.extensions["slots"] = InferenceSlots(
        settings.inference_concurrency, settings.max_queue, settings.max_queue_wait, on_change=metrics.observe_queue
    )

    def _model_ready(model: ModelState) -> None:
        metrics.model_load.labels(model.spec.name).set(model.load_seconds or 0.0)
        metrics.model_warmup.labels(model.spec.name).set(model.warmup_seconds or 0.0)
        if all(m.state == "ready" for m in service.models.values()):
            metrics.model_ready.set(1)

    service.start(
        intra_op=app.config["TF_INTRA_OP_THREADS"],
        inter_op=app.config["TF_INTER_OP_THREADS"],
        on_failure=exit_worker if app.config["EXIT_ON_LOAD_FAILURE"] else None,
        on_ready=_model_ready,
    )

    register_error_handlers(app)
    register_observability(app, metrics)  # first, so refused requests get an id and are counted
    register_auth(app)
    register_security_headers(app)
    app.register_blueprint(bp)
    app.register_blueprint(metrics_bp)
    app.register_blueprint(results_bp)
    app.register_blueprint(listing_bp)
    app.register_blueprint(web_bp)
    return app
