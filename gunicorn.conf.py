"""gunicorn settings for a detection node: `gunicorn -c gunicorn.conf.py` from the repository root.

Every value comes from app.config.Settings (environment variables). The master never imports
TensorFlow: preload is off, so each worker builds the app and loads its own model after the fork
(TF state created before a fork hangs the workers).
"""

import glob
import os
import tempfile

from app.config import Settings

_settings = Settings.from_env()

# Quiet TensorFlow's C++ start-up chatter unless the operator asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Workers share metrics through files in this folder (prometheus-client multiprocess mode).
# It must be set before any worker imports prometheus_client, and emptied when the node starts.
_metrics_dir = _settings.prometheus_multiproc_dir or tempfile.mkdtemp(prefix="detector-metrics-")
os.makedirs(_metrics_dir, exist_ok=True)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir


def on_starting(server):
    """Drop metric files a previous run left behind; say which settings could serve better."""
    for path in glob.glob(os.path.join(_metrics_dir, "*.db")):
        os.unlink(path)
    for warning in _settings.warnings():
        server.log.warning("%s", warning)


def child_exit(server, worker):
    """Stop counting a dead worker's live gauges (in-flight requests, model ready)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


wsgi_app = "app.wsgi:app"
bind = [f"{_settings.host}:{_settings.port}"]
workers = _settings.workers
threads = _settings.threads
# gthread, except that the worker's event loop reads each request whole (with a deadline and a minimum
# rate, else 408) before a thread sees it, and probes get threads of their own: app/buffering_worker.py.
worker_class = "app.buffering_worker.BufferingWorker"
preload_app = False
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout
keepalive = 5
# A query-string `input` may be a long path, percent-encoded: allow gunicorn's maximum request line.
# Longer lines get gunicorn's own 414 page (documented in the OpenAPI document); the body has no such limit.
limit_request_line = 8190
# Several nodes on one host would fight over the one default control socket; we do not use gunicornc.
control_socket_disable = True
loglevel = _settings.log_level
# One structured JSON line per request comes from the app (logger app.access, with the request id),
# so gunicorn's own access log is off.
accesslog = None
errorlog = "-"
# Application loggers (app.*, detector.*) go to stderr next to gunicorn's own lines.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
    "root": {"level": _settings.log_level.upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": _settings.log_level.upper(), "handlers": ["stderr"], "propagate": False},
    },
}
