"""Configuration read from the environment (twelve-factor style)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sqlalchemy.engine import make_url

ENVIRONMENTS = ("development", "testing", "production")
DEFAULT_MAX_UPLOAD_BYTES = 5 * 1024 * 1024
DEFAULT_ALLOWED_TYPES = ("application/pdf", "image/gif", "image/jpeg", "image/png", "text/plain")


class ConfigError(RuntimeError):
    """Raised when the environment does not describe a usable configuration."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def database_url(raw: str | None, password: str | None, data_dir: Path) -> str:
    """Build the SQLAlchemy URL.

    ``raw`` defaults to an SQLite file in ``data_dir``. ``mysql://`` means PyMySQL, and a URL with a
    user name but no password takes the password from ``DATABASE_PASSWORD`` (on EC2 the boot script
    fetches it from SSM Parameter Store, so it never appears in user data or in the URL).
    """
    if not raw:
        return f"sqlite:///{data_dir / 'taskmanager.db'}"
    url = make_url(raw)
    if url.drivername in ("mysql", "mariadb", "mariadb+pymysql"):
        url = url.set(drivername="mysql+pymysql")
    if url.drivername == "mysql+pymysql" and "charset" not in url.query:
        url = url.update_query_dict({"charset": "utf8mb4"})
    if password and url.username and not url.password:
        url = url.set(password=password)
    return url.render_as_string(hide_password=False)


def engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # A generous busy timeout: several gunicorn workers share one SQLite file.
        return {"connect_args": {"timeout": 15}}
    return {"pool_pre_ping": True, "pool_recycle": 280, "connect_args": {"connect_timeout": 5}}


def load(overrides: dict | None = None, environ: dict | None = None) -> dict:
    """Return the Flask config mapping for the current environment."""
    env = os.environ if environ is None else environ
    overrides = overrides or {}
    mode = overrides.get("TASKMANAGER_ENV") or env.get("TASKMANAGER_ENV") or "development"
    if mode not in ENVIRONMENTS:
        raise ConfigError(f"TASKMANAGER_ENV must be one of {', '.join(ENVIRONMENTS)}, not {mode!r}")
    secret_key = overrides.get("SECRET_KEY") or env.get("SECRET_KEY")
    if not secret_key:
        if mode == "production":
            raise ConfigError(
                "SECRET_KEY is required when TASKMANAGER_ENV=production; set it in the environment "
                "(for example from SSM Parameter Store in /etc/taskmanager/taskmanager.env)"
            )
        secret_key = secrets.token_hex(32)
    data_dir = Path(overrides.get("DATA_DIR") or env.get("TASKMANAGER_DATA_DIR") or Path.cwd() / "instance")
    url = database_url(
        overrides.get("DATABASE_URL") or env.get("DATABASE_URL"),
        env.get("DATABASE_PASSWORD"),
        data_dir,
    )
    max_upload = int(env.get("TASKMANAGER_MAX_UPLOAD_BYTES") or DEFAULT_MAX_UPLOAD_BYTES)
    allowed = env.get("TASKMANAGER_UPLOAD_TYPES")
    config = {
        "TASKMANAGER_ENV": mode,
        "DEBUG": False,
        "TESTING": mode == "testing",
        "SECRET_KEY": secret_key,
        "DATA_DIR": data_dir,
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
        # Uploads: the request limit leaves room for the multipart framing around one file.
        "MAX_UPLOAD_BYTES": max_upload,
        "MAX_CONTENT_LENGTH": max_upload + 64 * 1024,
        "UPLOAD_TYPES": tuple(t.strip() for t in allowed.split(",")) if allowed else DEFAULT_ALLOWED_TYPES,
        "S3_BUCKET": env.get("TASKMANAGER_S3_BUCKET") or env.get("S3_BUCKET") or "",
        "S3_PREFIX": env.get("TASKMANAGER_S3_PREFIX", "attachments/"),
        "UPLOAD_DIR": Path(env.get("TASKMANAGER_UPLOAD_DIR") or data_dir / "uploads"),
        "LANGUAGE": env.get("TASKMANAGER_LANG", ""),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env.get("TASKMANAGER_SECURE_COOKIES"), False),
        "WTF_CSRF_TIME_LIMIT": None,
    }
    config.update({k: v for k, v in overrides.items() if k not in ("DATABASE_URL", "DATA_DIR")})
    if mode == "production":
        config["DEBUG"] = False
    return config
