"""Schema-driven fuzzing of the live API (gunicorn) from its own /openapi.json: no 5xx, and every
response matches the documented status codes, content types and schemas."""

from __future__ import annotations

import subprocess

from conftest import BIN, gunicorn


def test_schemathesis_run(tmp_path):
    with gunicorn(tmp_path, workers=2) as base:
        result = subprocess.run(
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
                "20261123",
                "--workers",
                "2",
                "--request-timeout",
                "10",
                "--max-time",
                "40",
                "--no-color",
                "--suppress-health-check",
                "all",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            check=False,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "passed" in output.lower()
