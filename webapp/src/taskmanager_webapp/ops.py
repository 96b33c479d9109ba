"""Operational endpoints the load balancers and fleet checks rely on: /health, /instance, /openapi.json."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy import literal, select
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
from .i18n import t
from .openapi import spec

bp = Blueprint("ops", __name__)


@bp.get("/health")
def health():
    """One trivial round trip to the database; no session, no templates."""
    try:
        db.session.execute(select(literal(1))).scalar()
    except (SQLAlchemyError, OSError) as exc:
        db.session.rollback()
        current_app.logger.warning("health check: database unavailable: %s", exc.__class__.__name__)
        return jsonify({"status": "unavailable", "database": "unavailable"}), 503
    return jsonify({"status": "ok", "database": "ok"})


@bp.get("/instance")
def instance():
    identity = current_app.extensions["taskmanager_identity"].get()
    wants_json = request.args.get("format") == "json" or (
        request.accept_mimetypes.best_match(["text/plain", "application/json"]) == "application/json"
        and request.accept_mimetypes["application/json"] > request.accept_mimetypes["text/plain"]
    )
    if wants_json:
        return jsonify(identity.as_dict())
    return Response(t("instance_text", id=identity.instance_id) + "\n", mimetype="text/plain")


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())
