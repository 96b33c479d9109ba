"""gunicorn settings for taskmanager_webapp (production and `make serve`).

  gunicorn -c /etc/taskmanager/gunicorn.conf.py taskmanager_webapp.wsgi:app

Every value can be overridden from the environment: TASKMANAGER_BIND (or PORT), WEB_CONCURRENCY,
GUNICORN_THREADS, GUNICORN_TIMEOUT, GUNICORN_ACCESS_LOG ("-" = stdout, i.e. journald / CloudWatch).
"""

import multiprocessing
import os
import secrets

bind = os.environ.get("TASKMANAGER_BIND") or f"127.0.0.1:{os.environ.get('PORT', '8000')}"

# Workers from the CPU count: (2 x cores) + 1 processes, each with a few threads so slow clients and
# keep-alive connections from nginx do not pin a whole process.
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
# Heartbeat files on tmpfs (gunicorn's advice for containers, where /tmp may be a slow overlay).
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108 - heartbeat files only

timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
# Longer than nginx's upstream keepalive_timeout would be pointless; shorter than the ALB idle timeout (60 s).
keepalive = 5
max_requests = 5000
max_requests_jitter = 500

# Requests: bounded request line and headers (bodies are bounded by the app's MAX_CONTENT_LENGTH).
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# Only nginx on the same host may set X-Forwarded-* headers.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s" fwd="%({x-forwarded-for}i)s"'
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = "taskmanager"


def on_starting(server):
    """In gunicorn's master, once, before it listens and forks the workers: a SECRET_KEY outside
    production, then the database migration."""
    # Outside production, give every worker the same random SECRET_KEY (sessions and CSRF tokens
    # must validate in whichever worker gets the next request). Production refuses to start
    # without one (see taskmanager_webapp.config).
    if not os.environ.get("SECRET_KEY") and os.environ.get("TASKMANAGER_ENV", "development") != "production":
        os.environ["SECRET_KEY"] = secrets.token_hex(32)
        server.log.warning("SECRET_KEY not set: generated a random one for this run (development only)")
    # The schema, once per start of this instance or ECS task, before any worker exists (workers
    # never migrate). Under a database lock: instances and tasks sharing one database may start
    # together. A failure (a wrong password, a lock timeout) ends gunicorn with the error on stderr
    # before it listens: systemd (Restart=on-failure) or ECS starts it again.
    from taskmanager_webapp import dbmigrate

    server.log.info("database schema: %s", dbmigrate.upgrade_database())
