# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures: stand-in backends and one HAProxy with a frontend per scenario, started and stopped by PID."""

import sys
from pathlib import Path

import pytest

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
BACKENDS = {  # name: (port, az, mode)
    "a": (18190, "eu-north-1a", "normal"),
    "b": (18191, "eu-north-1b", "normal"),
    "c": (18192, "eu-north-1c", "normal"),
    "d": (18193, "eu-north-1c", "500"),
    "e": (18194, "eu-north-1c", "hang"),
    "f": (18195, "eu-north-1c", "normal"),
}
MOTO_BACKEND_PORTS = [18196, 18197, 18198]
FRONTENDS = {  # name: (port, [(backend port, weight), ...])
    "even": (18180, [(18190, 1), (18191, 1), (18192, 1)]),
    "weighted": (18181, [(18190, 5), (18191, 1), (18192, 1)]),
    "err500": (18182, [(18190, 1), (18191, 1), (18193, 1)]),
    "hang": (18183, [(18190, 1), (18191, 1), (18194, 1)]),
    "stopped": (18184, [(18190, 1), (18191, 1), (18195, 1)]),
    "moto": (18185, [(port, 1) for port in MOTO_BACKEND_PORTS]),
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
        yield {name: f"http://127.0.0.1:{port}/instance" for name, (port, _servers) in FRONTENDS.items()}
    finally:
        proxy.stop()


@pytest.fixture(scope="session", name="moto")
def fixture_moto():
    server = harness.Moto(port=5013).start()
    try:
        yield server
    finally:
        server.stop()
