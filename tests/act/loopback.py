#!/usr/bin/env python3
"""Loopback HTTP servers for the act scenarios (tests/act/scenarios.sh).

    loopback.py files DIR LOG PORT_FILE
        serves the files under DIR (a project tarball host, a release host)
    loopback.py github STATE LOG PORT_FILE
        a fake GitHub REST API holding issue comments: list, create and edit
        (`/repos/{owner}/{repo}/issues/{number}/comments`, `/repos/{owner}/{repo}/issues/comments/{id}`);
        after every change it writes the comments to STATE as JSON

Both listen on 127.0.0.1 (a free port, written to PORT_FILE once listening) and append one line
`METHOD PATH` per request to LOG (the fake API adds ` auth=<Authorization header>`), so a scenario
can prove which requests a run made, or did not make. Only the Python standard library: it runs
wherever `python3` does.
"""

import http.server
import json
import os
import re
import sys
import threading

LOCK = threading.Lock()


def append(log_path, line):
    with LOCK, open(log_path, "a", encoding="utf-8") as log:
        log.write(line + "\n")


class Files(http.server.SimpleHTTPRequestHandler):
    log_path = ""

    def do_GET(self):
        append(self.log_path, f"GET {self.path}")
        super().do_GET()

    def do_HEAD(self):
        append(self.log_path, f"HEAD {self.path}")
        super().do_HEAD()

    def log_message(self, format, *args):  # the request log above is the only log
        pass


LIST = re.compile(r"^/repos/[^/]+/[^/]+/issues/(\d+)/comments$")
EDIT = re.compile(r"^/repos/[^/]+/[^/]+/issues/comments/(\d+)$")


class GitHub(http.server.BaseHTTPRequestHandler):
    log_path = ""
    state_path = ""
    comments = []  # [{"id", "issue", "body"}], shared by every request

    def handle_one(self):
        path = self.path.split("?", 1)[0]
        append(self.log_path, f"{self.command} {path} auth={self.headers.get('Authorization', '')}")
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length) or b"null") if length else None
        with LOCK:
            listed, edited = LIST.match(path), EDIT.match(path)
            if listed and self.command == "GET":
                issue = int(listed.group(1))
                return self.answer(200, [self.public(c) for c in self.comments if c["issue"] == issue])
            if listed and self.command == "POST":
                comment = {"id": len(self.comments) + 1, "issue": int(listed.group(1)), "body": payload["body"]}
                self.comments.append(comment)
                self.save()
                return self.answer(201, self.public(comment))
            if edited and self.command == "PATCH":
                for comment in self.comments:
                    if comment["id"] == int(edited.group(1)):
                        comment["body"] = payload["body"]
                        self.save()
                        return self.answer(200, self.public(comment))
            return self.answer(404, {"message": "Not Found"})

    do_GET = do_POST = do_PATCH = handle_one

    def public(self, comment):
        return {"id": comment["id"], "body": comment["body"], "html_url": f"http://github.invalid/c/{comment['id']}"}

    def save(self):
        temporary = self.state_path + ".tmp"
        with open(temporary, "w", encoding="utf-8") as out:
            json.dump(self.comments, out)
        os.replace(temporary, self.state_path)

    def answer(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


def main():
    mode, root, log, port_file = sys.argv[1:5]
    open(log, "a", encoding="utf-8").close()
    if mode == "files":
        Files.log_path = log
        handler = lambda *args, **kwargs: Files(*args, directory=root, **kwargs)  # noqa: E731
    elif mode == "github":
        GitHub.log_path = log
        GitHub.state_path = root
        handler = GitHub
    else:
        sys.exit(f"unknown mode {mode!r}")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    temporary = port_file + ".tmp"
    with open(temporary, "w", encoding="utf-8") as out:
        out.write(str(server.server_address[1]))
    os.replace(temporary, port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
