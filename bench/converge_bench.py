# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: site.yml against the playbook a user would write by hand (issue 17).

The reference is ``../shared/baselines/naive-playbook/`` (read where it is, never copied here): a
spike that builds the same stack with no validation, no audit and no idempotence. Both run on one
private emulator (scripts/local-aws.sh, the emulator alone: what is timed is the control plane),
after an untimed build of the ECS image (only a machine's first converge builds it), alternately,
in rounds: naive converge, re-run, teardown; then site.yml converge, re-run, playbooks/teardown.yml.
Each teardown leaves the emulator empty for the next. Prints the time of each run, the median per
phase and the ratios against the goals (site.yml / naive: re-run <= 0.5, converge <= 0.8, teardown
<= 0.8).

Then the waits: the emulator restarts with a latency profile (emulator fix 17, typical AWS times
divided by --latency-scale, 3 by default: a new ALB provisions for 180/3 s, a new Multi-AZ RDS
instance creates for 900/3 s) and site.yml converges once more, with its poll intervals divided
by the same scale. A playbook that waits for each slow resource as it creates it takes at least
the sum of the waits; one that starts them early and waits late takes about the longest. Goal:
converge <= 1.2x the longest.

    .venv/bin/python bench/converge_bench.py [--rounds 2] [--port 5660] [--profile DIR] [--latency-scale 3]

--profile DIR keeps every run's output, with the profile_tasks callback on for site.yml too.
The port is also taken from BENCH_AWS_PORT. Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # localaws: the emulator's latency profile
NAIVE = (REPO.parent / "shared" / "baselines" / "naive-playbook").resolve()
BIN = REPO / os.environ.get("VENV", ".venv") / "bin"
GOALS = {"converge": 0.8, "re-run": 0.5, "teardown": 0.8}
LATENCY_GOAL = 1.2  # site.yml's converge with the latency profile, against its longest single wait
# Every host's line: site.yml runs on localhost and on a controller host per stack (playbooks/stacks.yml).
RECAP = re.compile(r"^[\w.-]+\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def local_aws(port: int, *args: str, latency_scale: float = 0) -> None:
    """scripts/local-aws.sh for the bench's emulator (alone); with latency_scale, its latency profile on."""
    env = dict(os.environ, LOCAL_AWS_PORT=str(port), LOCAL_AWS_DATAPLANE="off", VENV=str(BIN.parent))
    if latency_scale:
        env.update(LOCAL_AWS_LATENCY="aws", LOCAL_AWS_TIME_SCALE=str(latency_scale))
    subprocess.run([str(REPO / "scripts" / "local-aws.sh"), *args], cwd=REPO, env=env, check=True)


def aws_env(url: str) -> dict[str, str]:
    """The environment of an Ansible run against the bench's emulator."""
    env = dict(
        os.environ,
        AWS_ENDPOINT_URL=url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",  # noqa: S106 - the emulator's dummy credentials
        AWS_REGION="eu-north-1",
        AWS_DEFAULT_REGION="eu-north-1",
        ANSIBLE_NOCOLOR="1",
        PATH=f"{BIN}:{os.environ['PATH']}",
    )
    env.pop("AWS_PROFILE", None)
    return env


def warm_image_cache(port: int, url: str) -> None:
    """Build the ECS image once, untimed, on an emulator that is then thrown away.

    buildah keeps the Debian base and the built image in the machine's image storage, so only a
    machine's first converge builds them (about a minute: debootstrap, then pip), as a first
    `docker pull` downloads a base once. Later converges push the stored image to the fresh
    emulator's registry (seconds). Warming first makes round 1 time what every later converge costs.
    """
    env = dict(aws_env(url), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"))
    command = [
        *(str(BIN / "ansible"), "localhost", "-i", "inventories/local"),
        *("-m", "ansible.builtin.include_role", "-a", "name=taskmanager.aws.image"),
        *("-e", f"taskmanager_dist_dir={REPO / '.build' / 'dist'}"),
    ]
    local_aws(port, "start")
    try:
        start = time.monotonic()
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800, check=False)
        if done.returncode != 0:
            output = (done.stdout + done.stderr)[-4000:]
            sys.exit(f"building the image (warm-up) failed (rc {done.returncode}):\n{output}")
        seconds = time.monotonic() - start
        print(f"warm-up   the ECS image built or found in buildah's storage: {seconds:.1f} s", flush=True)
    finally:
        local_aws(port, "stop")


def playbook(
    which: str, phase: str, url: str, profile: Path | None, round_no: int, extra: tuple[str, ...] = ()
) -> tuple[float, int]:
    """One timed ansible-playbook run: (seconds, changed)."""
    env = aws_env(url)
    if which == "naive":
        env["ANSIBLE_CONFIG"] = str(NAIVE / "ansible.cfg")
        book = "teardown.yml" if phase == "teardown" else "site.yml"
        command = [str(BIN / "ansible-playbook"), book, "-e", f"aws_endpoint={url}"]
        cwd = NAIVE
    else:
        env["ANSIBLE_CONFIG"] = str(REPO / "ansible.cfg")
        if profile:
            env["ANSIBLE_CALLBACKS_ENABLED"] = "taskmanager.aws.ansiballz_cache,ansible.posix.profile_tasks"
        book = "playbooks/teardown.yml" if phase == "teardown" else "site.yml"
        # The emulator alone runs no ECS task, so site.yml's steady wait is off: what is timed is
        # the control plane, and the naive playbook waits for nothing either.
        command = [str(BIN / "ansible-playbook"), "-i", "inventories/local", book, "-e", "ecs_ha_wait_steady=false"]
        command += extra
        cwd = REPO
    start = time.monotonic()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800, check=False)
    seconds = time.monotonic() - start
    output = done.stdout + done.stderr
    if profile:
        (profile / f"{round_no}-{which}-{phase}.log").write_text(output)
    if done.returncode != 0:
        sys.exit(f"{which} {phase} failed (rc {done.returncode}):\n{output[-4000:]}")
    changed = sum(int(counts[1]) for counts in RECAP.findall(output))
    return seconds, changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--port", type=int, default=int(os.environ.get("BENCH_AWS_PORT", "5660")))
    parser.add_argument("--profile", type=Path, help="keep each run's output here (profile_tasks on)")
    parser.add_argument("--latency-scale", type=float, default=3.0, help="typical AWS waits / this (0: skip)")
    args = parser.parse_args()
    if not (NAIVE / "site.yml").is_file():
        sys.exit(f"the naive playbook is not at {NAIVE} (../shared/baselines/naive-playbook beside the checkout)")
    if not list((REPO / ".build" / "dist").glob("taskmanager_webapp-*.whl")):
        sys.exit("no web app wheel in .build/dist: make webapp-dist")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{args.port}"
    missed = []
    if args.rounds > 0:
        missed += rounds(args, url)
    if args.latency_scale and not latency(args, url):
        missed.append("latency")
    return 1 if missed else 0


def rounds(args: argparse.Namespace, url: str) -> list[str]:
    """The naive playbook and site.yml, alternately: the phases whose goal was missed."""
    times: dict[tuple[str, str], list[float]] = {}
    warm_image_cache(args.port, url)
    local_aws(args.port, "start")
    try:
        for round_no in range(1, args.rounds + 1):
            for which in ("naive", "site.yml"):
                for phase in ("converge", "re-run", "teardown"):
                    seconds, changed = playbook(which, phase, url, args.profile, round_no)
                    times.setdefault((which, phase), []).append(seconds)
                    print(f"round {round_no}  {which:8}  {phase:8}  {seconds:6.1f} s  changed={changed}", flush=True)
    finally:
        local_aws(args.port, "stop")

    print(f"\n{'phase':9} {'naive s':>9} {'site.yml s':>11} {'ratio':>6} {'goal':>6}")
    missed = []
    for phase, goal in GOALS.items():
        naive = statistics.median(times[("naive", phase)])
        site = statistics.median(times[("site.yml", phase)])
        ratio = site / naive
        mark = "met" if ratio <= goal else "MISSED"
        if ratio > goal:
            missed.append(phase)
        print(f"{phase:9} {naive:9.1f} {site:11.1f} {ratio:6.2f} {goal:6.2f}  {mark}")
    print(f"(median of {args.rounds} round(s); machine load {os.getloadavg()[0]:.1f})")
    return missed


def latency(args: argparse.Namespace, url: str) -> bool:
    """site.yml's converge with the latency profile, against the longest and the sum of its waits."""
    from localaws.emulator import latency_profile  # noqa: PLC0415 - the bench's one use of the emulator's code

    scale = args.latency_scale
    waits = latency_profile("aws", scale)
    # Poll intervals compressed like the waits (RDS every 15 s, targets every 5 s, on AWS).
    polls = (
        *("-e", f"database_wait_delay={max(1, round(15 / scale))}"),
        *("-e", f"autoscaling_healthy_delay={max(1, round(5 / scale))}"),
    )
    local_aws(args.port, "start", latency_scale=scale)
    try:
        seconds, _changed = playbook("site.yml", "converge", url, args.profile, 0, polls)
        print(f"latency   site.yml  converge  {seconds:6.1f} s  (typical AWS waits / {scale:g})", flush=True)
        playbook("site.yml", "teardown", url, args.profile, 0)
    finally:
        local_aws(args.port, "stop")
    longest_kind = max(waits, key=waits.get)
    longest = waits[longest_kind]
    # The slow resources of the stack: the database, and a load balancer per stack.
    serial = waits["rds"] + 2 * waits["alb"]
    ratio = seconds / longest
    print(f"\nwaits: RDS creating {waits['rds']:.0f} s, each of the 2 ALBs provisioning {waits['alb']:.0f} s")
    print(f"  one after another (create, wait, create the next): at least {serial:.0f} s")
    print(f"  the longest single wait ({longest_kind}): {longest:.0f} s")
    mark = "met" if ratio <= LATENCY_GOAL else "MISSED"
    print(
        f"site.yml converge {seconds:.1f} s = {ratio:.2f}x the longest wait (goal <= {LATENCY_GOAL}),"
        f" {seconds / serial:.2f}x the sum  {mark}"
    )
    return ratio <= LATENCY_GOAL


if __name__ == "__main__":
    sys.exit(main())
