"""The HTTP API the console serves beside itself. In embedded mode the console process owns the vector store
(qdrant-edge admits one opener per folder), so the storefront, `curl` and the production-style routes reach
the engine through this process: the API runs in a background thread on the console's own Runtime.

VITRINA_API_PORT picks the port (0: no API). A port already taken — say by `python -m engine serve` on a
Qdrant server — is reported on the Overview page, never fatal to the console."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import streamlit as st
import uvicorn

from engine.runtime import Runtime
from engine.service.app import create_app
from engine.service.server import server_config
from engine.settings import Settings

from .runtime import location

START_SECONDS = 30.0  # how long the API may take to bind (it opens the store and loads the encoders first)


@dataclass
class ApiServer:
    url: str | None  # where it serves, once started
    error: str | None  # why it is not serving


def _serve(settings: Settings, port: int) -> ApiServer:
    try:
        app = create_app(settings)
    except Exception as e:  # noqa: BLE001  (the console must start whatever the API's problem)
        return ApiServer(None, f"{type(e).__name__}: {e}")
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, "warning"))
    thread = threading.Thread(target=server.run, name="vitrina-api", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_SECONDS
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not server.started:
        server.should_exit = True
        return ApiServer(None, f"could not serve on 127.0.0.1:{port} (is the port taken?)")
    return ApiServer(f"http://127.0.0.1:{port}", None)


@st.cache_resource(show_spinner=False)
def _api(data_dir: str, sql_url: str, qdrant_url: str, port: int) -> ApiServer:
    return _serve(Settings(), port)


def ensure_api(rt: Runtime) -> ApiServer | None:
    """Start the API once per process and data location (None when VITRINA_API_PORT is 0), and record where it
    serves in the store's owner note so another process that finds the store taken is told where to go."""
    port = Settings().api_port  # read now, as location() is: the Runtime may predate the environment
    if not port:
        return None
    api = _api(*location(), port)
    if api.url is not None:
        rt.announce(api.url)
    return api
