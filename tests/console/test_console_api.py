"""The process model of embedded mode: the console owns the store and serves the HTTP API beside itself; any
other process that needs the store is refused with a message naming the owner and its API."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx
from streamlit.testing.v1 import AppTest

from test_console_apptest import own_catalog

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_console_serves_the_api_and_other_processes_are_sent_to_it(tmp_path, monkeypatch, luma_dir,
                                                                        console_data):
    photos = sorted((luma_dir / "media").rglob("*_main.jpg"))[:6]
    rt = own_catalog(tmp_path, monkeypatch, console_data, "sku,title,price,category,images", [
        f"API-{i},Api item {i},{10 + i}.00,Api/Items,{p}" for i, p in enumerate(photos)])
    port = free_port()
    monkeypatch.setenv("VITRINA_API_PORT", str(port))
    env = {**console_data.env, "VITRINA_DATA_DIR": str(rt.settings.data_dir), "VITRINA_API_PORT": str(port)}
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()  # indexes, then serves the API
    assert not at.exception, [e.value for e in at.exception]
    url = f"http://127.0.0.1:{port}"
    shown = [c.value for c in at.caption] + [w.value for w in at.warning]
    assert any(url in c for c in shown), shown  # the Overview page says where the API is
    assert httpx.get(f"{url}/health", timeout=30).status_code == 200
    served = httpx.get(f"{url}/api/products/API-1/similar/", params={"limit": 3}, timeout=30)
    assert served.status_code == 200 and len(served.json()["items"]) == 3

    proc = subprocess.run([sys.executable, "-m", "engine", "similar", "API-1"], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 2, proc.stderr
    assert f"is owned by process {os.getpid()}" in proc.stderr
    assert f"use the HTTP API it serves at {url}" in proc.stderr and "Traceback" not in proc.stderr
