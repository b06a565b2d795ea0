"""Collect the students' result zips from a running hub (docs/deploy.md, "Collect results").

    JUPYTERHUB_API_TOKEN=... python deploy/collect_results.py https://hub.example.org --out results/

For every student whose server is running, it lists the server's files through the Jupyter
server's contents API (``crystal_lab_workspace`` and the home folder, three levels deep) and
downloads each ``*.zip`` (what ``save_results`` and the Save buttons write) to
``OUT/<student>/<path>``. The token needs the scopes ``list:users``, ``read:servers`` and
``access:servers`` (an instructor's token: /hub/token, logged in as an instructor).
Only the Python standard library: run it anywhere.
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path


class Hub:
    def __init__(self, url: str, token: str, timeout: float = 60.0):
        self.url, self.token, self.timeout = url.rstrip("/"), token, timeout

    def get(self, path: str) -> bytes:
        req = urllib.request.Request(self.url + path,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=self.timeout) as response:
            return response.read()

    def json(self, path: str):
        return json.loads(self.get(path))


def running_servers(hub: Hub) -> dict[str, str]:
    """Student name -> the URL prefix of their running default server (``/user/<name>/``)."""
    out = {}
    for user in hub.json("/hub/api/users?state=ready"):
        server = (user.get("servers") or {}).get("")
        if server and server.get("ready"):
            out[user["name"]] = server["url"]
    return out


def find_files(hub: Hub, prefix: str, pattern: str = "*.zip", path: str = "",
               depth: int = 3) -> list[str]:
    """Paths of the files matching ``pattern`` below ``path`` of one server (contents API)."""
    quoted = urllib.parse.quote(path)
    listing = hub.json(f"{prefix}api/contents/{quoted}?content=1")
    found = []
    for item in listing.get("content") or []:
        if item["name"].startswith("."):
            continue
        if item["type"] == "directory" and depth > 0:
            found += find_files(hub, prefix, pattern, item["path"], depth - 1)
        elif item["type"] == "file" and fnmatch.fnmatch(item["name"], pattern):
            found.append(item["path"])
    return found


def collect(hub: Hub, out: Path, pattern: str = "*.zip", users=None) -> dict[str, list[Path]]:
    """Download every matching file of every running server; returns student -> files written.
    A server that cannot be read is reported on stderr and skipped."""
    written: dict[str, list[Path]] = {}
    for name, prefix in sorted(running_servers(hub).items()):
        if users and name not in users:
            continue
        try:
            paths = find_files(hub, prefix, pattern)
            for path in paths:
                target = out / name / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(hub.get(f"{prefix}files/{urllib.parse.quote(path)}"))
                written.setdefault(name, []).append(target)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            print(f"collect_results: {name}: {exc}", file=sys.stderr)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Download the students' result zips.")
    parser.add_argument("hub", help="the hub's address, e.g. https://hub.example.org")
    parser.add_argument("--out", default="collected_results", help="folder to write into")
    parser.add_argument("--pattern", default="*.zip", help="file names to collect (*.zip)")
    parser.add_argument("--user", action="append", help="only this student (repeatable)")
    args = parser.parse_args(argv)
    token = os.environ.get("JUPYTERHUB_API_TOKEN")
    if not token:
        parser.error("set JUPYTERHUB_API_TOKEN to an instructor's token (from /hub/token)")
    written = collect(Hub(args.hub, token), Path(args.out), args.pattern, args.user)
    for name, files in written.items():
        print(f"{name}: {len(files)} file(s)")
    print(f"collected {sum(map(len, written.values()))} file(s) from {len(written)} student(s) "
          f"into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
