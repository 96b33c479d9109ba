# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every test suite of this repository shares: ansible-playbook runs (``playbook``) and the
local AWS emulator started through ``scripts/local-aws.sh`` (``emulator``), and its ECR registry's
HTTP API (``registry``).

``tests/pytest.ini`` puts ``tests/`` on ``sys.path``, so a suite imports ``taskmanager_tests``."""
