# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures: stand-in backends and one HAProxy with a frontend per scenario, started and stopped by PID."""

import sys
from pathlib import Path

import pytest
from taskmanager_tests.emulator import start_local_aws

sys.path.insert(0, str(Path(__file__).resolve().parent))

import harness  # noqa: E402  pylint: disable=wrong-import-position

IDS = {
    "a": "i-0a1a1a1a1a1a1a1a1",
    "b": "i-0b2b2b2b2b2b2b2b2",
    "c": "i-0c3c3c3c3c3c3c3c3",
    "d": "i-0d4d4d4d4d4d4d4d4",  # answers 500
    "e": "i-0e5e5e5e5e5e5e5e5",  # hangs
    "f": "i-0f6f6f6f6f6f6f6f6",  # stopped during its test
}
B = harness.backend_port
F = harness.frontend_port
BACKENDS = {  # name: (port, az, mode)
    "a": (B(0), "eu-north-1a", "normal"),
    "b": (B(1), "eu-north-1b", "normal"),
    "c": (B(2), "eu-north-1c", "normal"),
    "d": (B(3), "eu-north-1c", "500"),
    "e": (B(4), "eu-north-1c", "hang"),
    "f": (B(5), "eu-north-1c", "normal"),
}
MOTO_BACKEND_PORTS = [B(6), B(7), B(8)]
FRONTENDS = {  # name: (port, [(backend port, weight), ...])
    "even": (F(0), [(B(0), 1), (B(1), 1), (B(2), 1)]),
    "weighted": (F(1), [(B(0), 5), (B(1), 1), (B(2), 1)]),
    "err500": (F(2), [(B(0), 1), (B(1), 1), (B(3), 1)]),
    "hang": (F(3), [(B(0), 1), (B(1), 1), (B(4), 1)]),
    "stopped": (F(4), [(B(0), 1), (B(1), 1), (B(5), 1)]),
    "moto": (F(5), [(port, 1) for port in MOTO_BACKEND_PORTS]),
}


@pytest.fixture(scope="session", name="backends")
def fixture_backends():
    procs = {}
    try:
        for name, (port, az, mode) in BACKENDS.items():
            procs[name] = harness.start_backend(port, IDS[name], az=az, mode=mode, hang_seconds=20)
        yield procs
    finally:
        for proc in procs.values():
            harness.stop(proc)


@pytest.fixture(scope="session", name="haproxy")
def fixture_haproxy(backends):
    proxy = harness.HAProxy(FRONTENDS).start()
    try:
        yield {name: harness.url(port) for name, (port, _servers) in FRONTENDS.items()}
    finally:
        proxy.stop()


@pytest.fixture(scope="session", name="moto")
def fixture_moto():
    """A private emulator without its data plane (scripts/local-aws.sh) on SPREAD_MOTO_PORT."""
    local = start_local_aws(harness.MOTO_PORT, dataplane=False)
    try:
        yield local
    finally:
        local.stop()
