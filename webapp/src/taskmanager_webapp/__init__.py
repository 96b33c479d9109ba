"""Task manager web service (Flask): tasks, attachments, and the /health and /instance endpoints."""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from sqlalchemy.orm.exc import ObjectDeletedError
from werkzeug.exceptions import HTTPException, NotFound

__version__ = "1.0.0"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


class TaskManagerFlask(Flask):
    def run(self, *args, **kwargs):
        """The development server, refused in production (gunicorn serves production)."""
        if self.config.get("TASKMANAGER_ENV") == "production":
            raise RuntimeError("refusing to run the development server with TASKMANAGER_ENV=production; use gunicorn")
        return super().run(*args, **kwargs)


def create_app(overrides: dict | None = None, environ: dict | None = None) -> Flask:
    """Application factory. ``overrides`` win over the environment (tests use them)."""
    from . import api, config, dbmigrate, i18n, ops, views
    from .extensions import csrf, db, migrate
    from .fastpath import InstanceRoute
    from .identity import IdentityCache

    app = TaskManagerFlask(__name__)
    app.config.from_mapping(config.load(overrides, environ))
    app.json.sort_keys = False
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        app.config["DATA_DIR"].mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(dbmigrate.MIGRATIONS_DIR))
    csrf.init_app(app)
    app.extensions["taskmanager_identity"] = IdentityCache(environ)
    # GET /instance is this middleware, not a view (fastpath.py).
    app.wsgi_app = InstanceRoute(app.wsgi_app, app.extensions["taskmanager_identity"], SECURITY_HEADERS)

    app.register_blueprint(ops.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
    app.jinja_env.globals.update(
        t=i18n.t,
        lang=i18n.language,
        languages=i18n.LANGUAGES,
        served_by=app.extensions["taskmanager_identity"].get,  # the page footer: who served it
    )

    # No migration here: create_app runs in every gunicorn worker. The schema is upgraded once per
    # start, before the workers exist (dbmigrate.upgrade_database, from gunicorn's master).
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _sqlite_pragmas(db.engine)

    @app.after_request
    def security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if request.path.startswith("/api/") or request.path == "/openapi.json":
            code = (exc.name or "error").lower().replace(" ", "_")
            response = jsonify({"error": code, "message": exc.description or exc.name})
            response.status_code = exc.code or 500
            if exc.code == 405 and exc.valid_methods:
                response.headers["Allow"] = ", ".join(exc.valid_methods)
            return response
        return render_template("error.html", error=exc), exc.code or 500

    @app.errorhandler(ObjectDeletedError)
    def row_deleted_meanwhile(_exc: ObjectDeletedError):
        # Last resort for a row another worker deleted while this request used it: what a request a
        # moment later gets (the known windows are handled in services and by expire_on_commit=False).
        db.session.rollback()
        return http_error(NotFound())

    return app


def _sqlite_pragmas(engine) -> None:
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA busy_timeout=15000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; no fsync per commit
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
