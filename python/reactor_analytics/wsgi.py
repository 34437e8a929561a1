"""WSGI entry point for gunicorn: `reactor_analytics.wsgi:app`."""

from .app import create_app

app = create_app()
