"""Offline stand-in for the get-pip.py script that ansible-test's bootstrap runs.

ansible-test runs ``python get_pip_<version>.py --disable-pip-version-check [--no-setuptools]
[--no-wheel] pip==<version>`` inside a fresh virtualenv. This script does the same job from a
pip wheel on disk (named by PIP_WHEEL), so no download from an unreachable host is needed.
"""

import os
import sys

wheel = os.environ.get("TASKMANAGER_PIP_WHEEL") or "@PIP_WHEEL@"
sys.path.insert(0, wheel)

from pip._internal.cli.main import main  # noqa: E402  (pip comes from the wheel above)

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--no-cache-dir", wheel] + [a for a in args if not a.startswith("pip==")]))
