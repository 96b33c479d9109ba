"""Look at and steer the local data plane.

python -m localaws.ctl --state-dir DIR status          # listeners, instances, target health
python -m localaws.ctl --state-dir DIR freeze-az AZ    # lose an AZ: its instances freeze
python -m localaws.ctl --state-dir DIR thaw-az AZ      # and come back
python -m localaws.ctl --state-dir DIR urls            # one local URL per served listener
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .dataplane import FROZEN_FILE, STATUS_FILE
from .statefiles import read_json, write_json


def status_text(status: dict) -> str:
    if not status.get("running"):
        return "data plane: not running"
    age = time.time() - status.get("updated", 0)
    lines = [
        f"data plane: running (pid {status.get('pid')}, time scale {status.get('time_scale', 1):g}, "
        f"updated {age:.1f} s ago)"
    ]
    if status.get("frozen_azs"):
        lines.append(f"  lost (frozen) AZs: {', '.join(status['frozen_azs'])}")
    lines.append("  load balancers (listener -> local address):")
    for listener in status.get("listeners", []) or []:
        served = "" if listener["served"] else "  (not served locally: no certificates)"
        lines.append(f"    {listener['load_balancer']}:{listener['listener_port']} -> {listener['url']}{served}")
    if not status.get("listeners"):
        lines.append("    none")
    lines.append("  instances:")
    for instance in status.get("instances", []) or []:
        lines.append(
            f"    {instance['instance_id']}  {instance['availability_zone']}  {instance['address']}  "
            f"{instance['state']}  {instance['detail']}"
        )
    if not status.get("instances"):
        lines.append("    none")
    lines.append("  target groups (health as the data plane measures it):")
    for group in status.get("target_groups", []) or []:
        lines.append(f"    {group['name']}")
        for target in group["targets"]:
            reason = f" ({target['reason']})" if target.get("reason") else ""
            lines.append(f"      {target['id']}:{target['port']}  {target['address']}  {target['state']}{reason}")
        if not group["targets"]:
            lines.append("      no targets")
    if status.get("services"):
        lines.append("  ECS services (tasks as the data plane runs them):")
    for service in status.get("services", []) or []:
        blocked = f"  ({service['blocked']})" if service.get("blocked") else ""
        lines.append(
            f"    {service['cluster']}/{service['service']}: desired {service['desired']}, "
            f"running {service['running']},"
            f" healthy {service['healthy']}{blocked}"
        )
        for task in service["tasks"]:
            lines.append(f"      task {task['task']}  {task['az']}  {task['instance_id']}:{task['host_port']}")
    if status.get("databases"):
        lines.append("  RDS instances (MariaDB servers):")
    for db in status.get("databases", []) or []:
        detail = f"  ({db['detail']})" if db.get("detail") else ""
        lines.append(f"    {db['identifier']}  {db['endpoint']}  {db['state']}{detail}")
    return "\n".join(lines)


def set_frozen(state_dir: Path, zone: str, frozen: bool, timeout: float = 5.0) -> int:
    path = state_dir / FROZEN_FILE
    zones = set(read_json(path, []))
    zones = zones | {zone} if frozen else zones - {zone}
    write_json(path, sorted(zones))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read_json(state_dir / STATUS_FILE, {})
        in_zone = [i for i in status.get("instances", []) if i["availability_zone"] == zone]
        if (zone in status.get("frozen_azs", [])) == frozen and all(
            (i["state"] == "frozen") == frozen for i in in_zone
        ):
            word = "lost: its instances are frozen" if frozen else "back: its instances run again"
            print(f"{zone} {word} ({', '.join(i['instance_id'] for i in in_zone) or 'no instances'})")
            return 0
        time.sleep(0.1)
    print(f"the data plane did not apply the change to {zone} within {timeout:g} s (is it running?)", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Look at and steer the local data plane.")
    parser.add_argument("--state-dir", type=Path, required=True)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("status")
    sub.add_parser("urls")
    for name in ("freeze-az", "thaw-az"):
        sub.add_parser(name).add_argument("zone")
    args = parser.parse_args(argv)
    status = read_json(args.state_dir / STATUS_FILE, {})
    if args.command == "status":
        print(status_text(status))
        return 0 if status.get("running") else 3
    if args.command == "urls":
        for listener in status.get("listeners", []) or []:
            if listener["served"]:
                print(f"{listener['load_balancer']} {listener['url']}")
        return 0
    return set_frozen(args.state_dir, args.zone, args.command == "freeze-az")


if __name__ == "__main__":
    sys.exit(main())
