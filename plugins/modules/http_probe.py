#!/usr/bin/python

# Copyright: Contributors to the taskmanager.aws collection
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

DOCUMENTATION = r"""
---
module: http_probe
version_added: 1.0.0
short_description: Probe a URL continuously and report every failure with its time
description:
  - Sends one request at a time to O(url) at O(rate) requests per second for O(duration) seconds
    (or until O(stop_file) appears), and reports what a user of the service saw during that time,
    requests sent and failed by kind, the longest run of failures, the first and last failure, and
    who answered (the instance or task ID in the answer) with when each was first and last seen.
  - Meant to run in the background (C(async), C(poll) set to 0) while a playbook breaks something,
    then collected with M(ansible.builtin.async_status).
  - All times are UNIX epoch seconds, so they line up with timestamps the playbook records.
  - Never changes anything.
author:
  - taskmanager.aws contributors (!UNKNOWN)
options:
  url:
    description: The URL to probe (http or https).
    required: true
    type: str
  duration:
    description: Seconds to probe, at most.
    type: float
    default: 60
  rate:
    description: Requests per second (one at a time; a slow answer delays the next request).
    type: float
    default: 10
  timeout:
    description: Seconds before one request counts as failed (kind V(timeout)).
    type: float
    default: 2
  stop_file:
    description: Stop early once this file exists (the playbook creates it when the test is over).
    type: path
  headers:
    description: Request headers.
    type: dict
    default: {}
  id_field:
    description: Field of a JSON answer that names who answered.
    type: str
    default: instance_id
  validate_certs:
    description: Verify TLS certificates.
    type: bool
    default: true
notes:
  - Supports check mode (it only sends GET requests).
"""

EXAMPLES = r"""
- name: Probe the load balancer in the background for at most 3 minutes
  taskmanager.aws.http_probe:
    url: "http://{{ alb_dns_name }}/instance"
    rate: 10
    duration: 180
    stop_file: /tmp/failover-done
    headers: {Accept: application/json}
  async: 240
  poll: 0
  register: probe_job
"""

RETURN = r"""
sent:
  description: Requests sent.
  returned: always
  type: int
failures:
  description: Requests that failed (connection refused, timeout, HTTP 5xx...). Not named C(failed), which
    Ansible reads as the task's own failure.
  returned: always
  type: int
failed_by_kind:
  description: Failed requests by kind (V(http_503), V(timeout), V(connection_refused), ...).
  returned: always
  type: dict
longest_failure_run:
  description: The longest run of consecutive failed requests, with its start and end (epoch seconds).
  returned: always
  type: dict
  sample: {"requests": 7, "start": 1796140129.2, "end": 1796140130.1, "seconds": 0.9}
first_failure:
  description: Epoch seconds of the first failed request, or null.
  returned: always
  type: float
last_failure:
  description: Epoch seconds of the last failed request, or null.
  returned: always
  type: float
answered_by:
  description: Who answered, with the number of answers and when they were first and last seen.
  returned: always
  type: dict
  sample: {"8b9d1f0c2e": {"answers": 120, "first": 1796140100.0, "last": 1796140130.0}}
started_at:
  description: Epoch seconds of the first request.
  returned: always
  type: float
ended_at:
  description: Epoch seconds when the probe stopped.
  returned: always
  type: float
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.taskmanager.aws.plugins.module_utils.spread_probe import (
    extract_identity,
    make_http_get,
    probe_once,
)


def summarise(samples):
    """samples: (epoch, ok, id, error kind) in order -> the report fields."""
    failed_by_kind = {}
    answered_by = {}
    longest = {"requests": 0, "start": None, "end": None, "seconds": 0.0}
    run = []
    for when, ok, ident, kind in samples:
        if ok:
            entry = answered_by.setdefault(ident or "?", {"answers": 0, "first": when, "last": when})
            entry["answers"] += 1
            entry["last"] = when
            run = []
            continue
        failed_by_kind[kind] = failed_by_kind.get(kind, 0) + 1
        run.append(when)
        if len(run) > longest["requests"]:
            longest = {"requests": len(run), "start": run[0], "end": run[-1], "seconds": round(run[-1] - run[0], 3)}
    failures = [when for when, ok, _ident, _kind in samples if not ok]
    return {
        "sent": len(samples),
        "failures": len(failures),
        "failed_by_kind": failed_by_kind,
        "longest_failure_run": longest,
        "first_failure": failures[0] if failures else None,
        "last_failure": failures[-1] if failures else None,
        "answered_by": answered_by,
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "url": {"type": "str", "required": True},
            "duration": {"type": "float", "default": 60},
            "rate": {"type": "float", "default": 10},
            "timeout": {"type": "float", "default": 2},
            "stop_file": {"type": "path"},
            "headers": {"type": "dict", "default": {}},
            "id_field": {"type": "str", "default": "instance_id"},
            "validate_certs": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    if not params["url"].startswith(("http://", "https://")):
        module.fail_json(msg=f"url must start with http:// or https://, not {params['url']!r}")
    if params["rate"] <= 0 or params["duration"] <= 0 or params["timeout"] <= 0:
        module.fail_json(msg="rate, duration and timeout must be greater than 0")
    # A new connection per probe: a failover is judged as a new visitor sees it.
    fetch = make_http_get(validate_certs=params["validate_certs"], keep_alive=False)

    def parse(body):
        return extract_identity(body, id_field=params["id_field"])

    period = 1.0 / params["rate"]
    samples = []
    started = time.time()
    end = time.monotonic() + params["duration"]
    while time.monotonic() < end:
        if params["stop_file"] and os.path.exists(params["stop_file"]):
            break
        tick = time.monotonic()
        when = time.time()
        result = probe_once(fetch, params["url"], params["headers"], params["timeout"], tick + params["timeout"], parse)
        samples.append((when, result["ok"], result.get("id"), result.get("error")))
        time.sleep(max(0.0, period - (time.monotonic() - tick)))
    # (not "started"/"finished": async_status reads those keys of a background job's result)
    module.exit_json(changed=False, started_at=started, ended_at=time.time(), **summarise(samples))


if __name__ == "__main__":
    main()
