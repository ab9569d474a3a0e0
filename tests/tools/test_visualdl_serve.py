"""The documented VisualDL command serves its page to a client sending no headers.

VisualDL 2.5.3 picks the page language from ``Accept-Language``; without that header its
``get_locale()`` returns None and ``set_cookie('vdl_lng', None)`` fails with HTTP 500 under every
Werkzeug we tried (2.2.3, 2.3.8, 3.0.6, 3.1.8). ``--language en`` (the docs' command) avoids it.
"""
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

pytest.importorskip("visualdl")

_SERVE = ("import sys; from visualdl.server.app import main; "
          "sys.argv = ['visualdl'] + sys.argv[1:]; main()")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url, timeout_s=60.0):
    """Status of a header-less GET, retrying while the server starts (bounded)."""
    deadline = time.time() + timeout_s
    while True:
        request = urllib.request.Request(url, headers={})  # urllib sends no Accept-Language
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            if time.time() > deadline:
                raise
            time.sleep(0.3)


def test_index_page_without_accept_language(tmp_path):
    from paddlexseg.engine.logging import VisualDLWriter
    writer = VisualDLWriter(str(tmp_path / "vdl_log"))
    writer.scalars({"loss": 1.0}, step=1, prefix="train/")
    writer.close()
    port = _free_port()
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVE, "--logdir", str(tmp_path / "vdl_log"), "--host",
         "127.0.0.1", "--port", str(port), "--language", "en"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        assert _get(f"http://127.0.0.1:{port}/app/index") == 200
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
