# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures shared by the module tests: moto's in-process AWS, and an endpoint nobody answers."""

from __future__ import annotations

import socket

import moto
import pytest

REGION = "eu-north-1"  # the tests' REGION


def _dummy_credentials(monkeypatch):
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def mock_aws_account(monkeypatch):
    """moto's ``mock_aws`` with dummy credentials; no endpoint or profile from outside leaks in."""
    _dummy_credentials(monkeypatch)
    with moto.mock_aws():
        yield


@pytest.fixture
def closed_endpoint(monkeypatch):
    """The URL of a loopback port where nothing listens, with dummy credentials and one attempt."""
    _dummy_credentials(monkeypatch)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends
    return f"http://127.0.0.1:{port}"
