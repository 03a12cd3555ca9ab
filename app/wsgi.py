"""WSGI entry point for gunicorn: one app (and one model) per worker process."""

from app import create_app

app = create_app()
