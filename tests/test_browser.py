"""The drawing page in a real headless Chromium: strokes of a 1 and a 0 are classified as 1 and 0,
and what the page feeds the model is what `purenet predict` makes of the same picture."""

import json
import math
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from cdp import Browser, find_chromium
from exchange_support import mnist_model

import purenet as pn
from purenet.data.images import to_mnist
from purenet.errors import ModelFormatError
from purenet.exchange.web import make_server


@pytest.fixture(scope="module")
def page_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import os

    folder = os.environ.get("PURENET_DATA_DIR")
    if not folder:
        pytest.skip("PURENET_DATA_DIR is not set: this test needs the real data (../shared/data)")
    path = tmp_path_factory.mktemp("page") / "model.json"
    pn.save_model(path, mnist_model(Path(folder)))
    server = make_server(path, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = find_chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    with Browser(executable) as opened:
        yield opened


def pad_origin(browser: Browser) -> tuple[float, float]:
    corner = browser.evaluate(
        "(() => { const r = document.getElementById('pad').getBoundingClientRect();"
        " return [r.left, r.top]; })()"
    )
    return corner[0], corner[1]


def draw(browser: Browser, points: list[tuple[float, float]]) -> list[dict[str, object]]:
    browser.evaluate("window.purenetPage.clear()")
    left, top = pad_origin(browser)
    browser.stroke([(left + x, top + y) for x, y in points])
    top3: list[dict[str, object]] = browser.evaluate("window.purenetPage.state.top")
    return top3


ONE = [(150 - 0.15 * (y - 50), y) for y in range(50, 236, 6)]
ZERO = [
    (140 + 58 * math.sin(t / 40 * 2 * math.pi), 140 - 88 * math.cos(t / 40 * 2 * math.pi))
    for t in range(42)
]


def open_page(browser: Browser, url: str) -> None:
    browser.navigate(url, ready="window.purenetPage")
    assert browser.evaluate("window.purenetPage.ready.then(() => !!window.purenetPage.state.model)")


def test_strokes_of_a_one_and_a_zero_are_classified_as_1_and_0(
    browser: Browser, page_url: str, tmp_path: Path
) -> None:
    open_page(browser, page_url)
    one = draw(browser, ONE)
    assert one[0]["label"] == "1", one
    zero = draw(browser, ZERO)
    assert zero[0]["label"] == "0", zero
    assert len(zero) == 3 and zero[0]["score"] > zero[1]["score"] > zero[2]["score"]
    shown = browser.evaluate("document.querySelector('#top .label').textContent")
    assert shown == "0"
    browser.screenshot(tmp_path / "page.png")
    assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_page_centres_the_drawing_like_purenet_predict(browser: Browser, page_url: str) -> None:
    open_page(browser, page_url)
    draw(browser, ZERO)
    # The pad's pixels as Pillow's convert("L") reads a screenshot of it.
    gray = browser.evaluate(
        "(() => { const c = document.getElementById('pad');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        " const g = []; for (let i = 0; i < d.length; i += 4)"
        " g.push(Math.floor((d[i] * 299 + d[i + 1] * 587 + d[i + 2] * 114) / 1000));"
        " return g; })()"
    )
    expected = to_mnist(np.array(gray, dtype=np.float64).reshape(280, 280)).ravel()
    found = np.array(browser.evaluate("Array.from(window.purenetPage.state.digit)"))
    gaps = np.abs(found - expected.astype(np.int64))
    assert gaps.max() <= 1 and (gaps > 0).sum() <= 8


def test_the_server_answers_the_page_its_module_and_the_model(page_url: str) -> None:
    with urllib.request.urlopen(page_url) as reply:
        assert reply.headers["Content-Type"].startswith("text/html")
        assert b'from "./purenet.mjs"' in reply.read()
    with urllib.request.urlopen(page_url + "purenet.mjs") as reply:
        assert reply.headers["Content-Type"].startswith("text/javascript")
    with urllib.request.urlopen(page_url + "model.json?cache=1") as reply:
        assert json.loads(reply.read())["format"] == "purenet.model"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(page_url + "../etc/passwd")
    assert info.value.code == 404
    info.value.close()


def test_the_server_refuses_a_broken_model_before_serving(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text('{"format": "purenet.model"}')
    with pytest.raises(ModelFormatError, match=r"model\.json"):
        make_server(path, port=0)


def test_serve_refuses_a_broken_model_and_a_taken_port_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from purenet.cli.app import app

    path = tmp_path / "model.json"
    path.write_text("{}")
    result = CliRunner().invoke(app, ["serve", str(path), "--port", "0"])
    assert result.exit_code == 1 and "not a purenet model file" in result.output
    arch = pn.Architecture((784, 10))
    pn.save_model(path, pn.Model(arch, pn.init(arch, seed=0), (pn.Scale(), pn.Flatten((28, 28)))))
    taken = make_server(path, port=0)
    try:
        port = str(taken.server_address[1])
        result = CliRunner().invoke(app, ["serve", str(path), "--port", port])
        assert result.exit_code == 1 and f"cannot listen on 127.0.0.1:{port}" in result.output
    finally:
        taken.server_close()
