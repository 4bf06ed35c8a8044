#!/usr/bin/env python3
"""Loopback HTTP servers for the act scenarios (tests/act/scenarios.sh).

    loopback.py files DIR LOG PORT_FILE

serves the files under DIR on 127.0.0.1 (a free port, written to PORT_FILE once listening) and
appends one line `METHOD PATH` per request to LOG, so a scenario can prove which requests a run
made (or did not make). Only the Python standard library: it runs wherever `python3` does.
"""

import http.server
import os
import sys
import threading


class Handler(http.server.SimpleHTTPRequestHandler):
    log_path = ""
    lock = threading.Lock()

    def record(self):
        with self.lock, open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"{self.command} {self.path}\n")

    def do_GET(self):
        self.record()
        super().do_GET()

    def do_HEAD(self):
        self.record()
        super().do_HEAD()

    def log_message(self, format, *args):  # the request log above is the only log
        pass


def main():
    mode, root, log, port_file = sys.argv[1:5]
    if mode != "files":
        sys.exit(f"unknown mode {mode!r}")
    Handler.log_path = log
    open(log, "a", encoding="utf-8").close()
    handler = lambda *args, **kwargs: Handler(*args, directory=root, **kwargs)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    temporary = port_file + ".tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(str(server.server_address[1]))
    os.replace(temporary, port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
