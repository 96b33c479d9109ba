# Copyright: Contributors to the taskmanager.aws project
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A tiny stand-in for the web app's /instance route, for the spread tests.

JSON ({"instance_id": ..., "availability_zone": ...}) when the client accepts
application/json, else the text ``Du er koblet til instans: <id>``.
Modes: normal, 500 (answers HTTP 500), hang (never answers, up to --hang-seconds).
"""

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def make_handler(instance_id, az, mode, hang_seconds):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one answer = headers + body; no 40 ms delayed-ACK stalls

        def log_message(self, *args):  # keep the test output quiet
            pass

        def _send(self, status, body, content_type):
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802 (http.server API)
            if self.path.startswith("/health"):
                self._send(200, "ok\n", "text/plain")
                return
            if mode == "hang":
                time.sleep(hang_seconds)
                self.close_connection = True
                return
            if mode == "500":
                self._send(500, "Internal Server Error\n", "text/plain")
                return
            if "application/json" in self.headers.get("Accept", ""):
                body = json.dumps({"instance_id": instance_id, "availability_zone": az})
                self._send(200, body, "application/json")
            else:
                self._send(200, f"Du er koblet til instans: {instance_id}\n", "text/plain; charset=utf-8")

    return Handler


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--id", required=True)
    parser.add_argument("--az", default="eu-north-1a")
    parser.add_argument("--mode", choices=["normal", "500", "hang"], default="normal")
    parser.add_argument("--hang-seconds", type=float, default=30.0)
    args = parser.parse_args()
    server = Server((args.host, args.port), make_handler(args.id, args.az, args.mode, args.hang_seconds))
    server.serve_forever()


if __name__ == "__main__":
    main()
