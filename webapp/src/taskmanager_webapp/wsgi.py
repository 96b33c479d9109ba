"""WSGI entry point: ``gunicorn taskmanager_webapp.wsgi:app``."""

from . import create_app

app = create_app()
