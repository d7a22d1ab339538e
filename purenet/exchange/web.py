"""The browser page and the JavaScript reader (package data), and a local server for them.

`WEB_DIR` holds `purenet.mjs` (the dependency-free ES module that reads a model file, applies
its preprocessing and runs it; also usable from Node.js), `predict.mjs` (a Node.js command over
it) and `index.html` (draw a digit, see the MNIST-style centring and the top-3 classes). The
repository's `js/` folder is the same folder.

`make_server` serves the page with one model as `/model.json` (`purenet serve MODEL`); any
static server works as well, e.g. `python -m http.server` in a folder holding the three files
and a `model.json`.

Example:
    >>> from purenet.exchange.web import make_server
    >>> server = make_server("model.json", port=0)  # doctest: +SKIP
    >>> server.serve_forever()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from purenet.core.jsonio import to_json_text
from purenet.modelfile.io import load_model, model_to_data

WEB_DIR = Path(__file__).parent / "web"
"""The page and the JavaScript modules (package data)."""

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
}


def page_files(model_path: str | os.PathLike[str]) -> dict[str, tuple[str, bytes]]:
    """What the page's server answers: URL path to (content type, body).

    Args:
        model_path: the model file served as `/model.json`.

    Returns:
        `/` and `/index.html` (the page), `/purenet.mjs`, `/predict.mjs` and `/model.json`.

    Raises:
        ModelFormatError: the model file is missing or not a valid model (checked once, here,
            so the page never meets a broken file).
    """
    model_json = to_json_text(model_to_data(load_model(model_path))).encode()
    files = {"/model.json": (_TYPES[".json"], model_json)}
    for path in sorted(WEB_DIR.iterdir()):
        if path.suffix in _TYPES:
            files[f"/{path.name}"] = (_TYPES[path.suffix], path.read_bytes())
    files["/"] = files["/index.html"]
    return files


def make_server(
    model_path: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 8000
) -> ThreadingHTTPServer:
    """An HTTP server for the page with `model_path` as its model; call `serve_forever()`.

    Args:
        model_path: a model file.
        host: the address to listen on (local only by default).
        port: the port; 0 picks a free one (see `server.server_address`).

    Returns:
        The bound server. It answers GET for the files of `page_files` (404 otherwise), keeps
        no log and is closed with `server.server_close()`.

    Raises:
        ModelFormatError: the model file is not a valid model.
        OSError: the port is taken.
    """
    files = page_files(model_path)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path not in files:
                self.send_error(HTTPStatus.NOT_FOUND)
                return
            content_type, body = files[path]
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            # The library never prints; the CLI says where the page is.
            return

    return ThreadingHTTPServer((host, port), Handler)
