"""gunicorn settings for a detection node: `gunicorn -c gunicorn.conf.py` from the repository root.

Every value comes from app.config.Settings (environment variables). The master never imports
TensorFlow: preload is off, so each worker builds the app and loads its own model after the fork
(TF state created before a fork hangs the workers).
"""
import os

from app.config import Settings

_settings = Settings.from_env()

# Quiet TensorFlow's C++ start-up chatter unless the operator asked for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

wsgi_app = "app.wsgi:app"
bind = [f"{_settings.host}:{_settings.port}"]
workers = _settings.workers
threads = _settings.threads
worker_class = "gthread"
preload_app = False
timeout = _settings.timeout
graceful_timeout = _settings.graceful_timeout
keepalive = 5
# Several nodes on one host would fight over the one default control socket; we do not use gunicornc.
control_socket_disable = True
loglevel = _settings.log_level
accesslog = "-"
errorlog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms'
# Application loggers (app.*, detector.*) go to stderr next to gunicorn's own lines.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
    "root": {"level": _settings.log_level.upper(), "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": _settings.log_level.upper(), "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
    },
}
