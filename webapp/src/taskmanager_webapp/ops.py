"""Operational endpoints the load balancers and fleet checks rely on: /health and /openapi.json.

/instance, the third, is a WSGI middleware (fastpath.py), not a view: it is polled hard.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import literal, select
from sqlalchemy.exc import SQLAlchemyError

from .extensions import db
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


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())
