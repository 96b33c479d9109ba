"""Schema-driven fuzzing of the live API (gunicorn) from its own /openapi.json: no 5xx, and every
response matches the documented status codes, content types and schemas.

Two schemathesis processes (different seeds) fuzz the same two gunicorn workers at once, so requests
race each other as in production: that is how the PATCH-after-DELETE 500 was found. Processes, not
``--workers 2``: schemathesis' threads share ``ast.parse`` through hypothesis, which on CPython 3.11
fails now and then with "SystemError: AST constructor recursion depth mismatch" (cpython gh-106905).
"""

from __future__ import annotations

import subprocess

from conftest import BIN, gunicorn

SEEDS = (20261123, 20261124)


def schemathesis(base: str, seed: int, cwd) -> subprocess.Popen:
    return subprocess.Popen(
        [
            str(BIN / "schemathesis"),
            "run",
            f"{base}/openapi.json",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples",
            "10",
            "--phases",
            "coverage,fuzzing",
            "--seed",
            str(seed),
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--max-time",
            "40",
            "--no-color",
            "--suppress-health-check",
            "all",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
    )


def test_schemathesis_run(tmp_path):
    with gunicorn(tmp_path, workers=2) as base:
        runs = {seed: schemathesis(base, seed, tmp_path) for seed in SEEDS}
        outputs = {seed: proc.communicate(timeout=120)[0] for seed, proc in runs.items()}
    for seed, proc in runs.items():
        assert proc.returncode == 0, f"seed {seed}:\n" + outputs[seed][-6000:]
        assert "passed" in outputs[seed].lower()
