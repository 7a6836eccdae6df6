"""`genlab serve` over HTTP: every route, its status and content type, and what bad input gets.

The server runs on an ephemeral loopback port over tiny runs trained in the session (conftest.py).
"""

from __future__ import annotations

import base64
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from genlab.arith.problem import ArithSpec, GlyphBank, strip
from genlab.cli import app
from genlab.core.errors import GenlabError
from genlab.core.mnist import load_mnist
from genlab.images.runs import heldout_images
from genlab.serve.app import run_names
from genlab.serve.payload import MAX_UPLOAD_BYTES
from genlab.serve.server import host_warning, start_server


def call(server, path, body=None, method=None, headers=None):
    """(status, content type, body bytes) of one request; 4xx/5xx are answers, not exceptions."""
    request = urllib.request.Request(
        server.url.rstrip("/") + path, data=body, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


def api(server, path, body=None, method=None, status=200):
    code, kind, data = call(server, path, body, method)
    assert kind == "application/json", (code, kind, data[:200])
    payload = json.loads(data)
    assert code == status, payload
    return payload


def error(server, path, status, body=None, method=None) -> str:
    payload = api(server, path, body, method, status=status)
    assert payload["status"] == status and "Traceback" not in payload["error"]
    return payload["error"]


def picture(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def q(text: str) -> str:
    return urllib.parse.quote(text)


# -- the page ------------------------------------------------------------------------------------


def test_the_page_and_its_script_and_style_are_served_by_genlab_itself(server):
    status, kind, page = call(server, "/")
    assert status == 200 and kind.startswith("text/html") and b'src="/static/app.js"' in page
    assert b"://" not in page  # nothing from a CDN: the page works offline
    for name, content_type in (("app.js", "text/javascript"), ("style.css", "text/css")):
        status, kind, body = call(server, f"/static/{name}")
        assert status == 200 and kind.startswith(content_type) and len(body) > 500 and b"://" not in body
    assert call(server, "/favicon.ico")[0] == 204


@pytest.mark.parametrize(
    "path",
    ["/static/../../../etc/passwd", "/static/app.py", "/static/%2e%2e/app.py", "/runs/vae/config.json"],
)
def test_anything_else_is_a_json_404_and_no_file_is_read(server, path):
    assert "no page" in error(server, path, 404)


# -- runs ----------------------------------------------------------------------------------------


def test_runs_are_listed_by_their_folder_names_with_what_each_offers(server):
    runs = {run["name"]: run for run in api(server, "/api/runs")["runs"]}
    assert list(runs) == ["vae", "i2i", "t2t", "diffusion"]
    assert runs["vae"]["features"] == ["sample", "interpolate", "reconstruct"]
    assert runs["diffusion"]["features"] == ["sample", "interpolate", "reconstruct", "denoise"]
    assert runs["diffusion"]["sample_steps"] == 3 and runs["diffusion"]["sampler"] == "heun"
    assert runs["vae"]["limits"]["n"] == 64 and runs["vae"]["size"] == 16
    assert runs["i2i"]["features"] == ["ask", "read"] and runs["i2i"]["output"] == "image"
    assert runs["t2t"]["features"] == ["ask"] and runs["t2t"]["example"] == "12+7"
    assert api(server, "/api/runs/t2t") == runs["t2t"]


def test_unknown_runs_actions_and_methods_get_4xx_that_say_what_exists(server):
    assert "vae, i2i, t2t, diffusion" in error(server, "/api/runs/nope/sample", 404)
    assert "offers sample, interpolate, reconstruct" in error(server, "/api/runs/vae/denoise", 404)
    assert "offers ask" in error(server, "/api/runs/t2t/read", 404, body=b"x", method="POST")
    assert "/api/runs" in error(server, "/api/models", 404)
    assert "use POST" in error(server, "/api/runs/vae/reconstruct", 405)
    assert "use GET" in error(server, "/api/runs/vae/sample", 405, body=b"", method="POST")
    assert call(server, "/api/runs", method="DELETE")[0] == 405


def test_names_come_from_the_folders_and_stay_unique_and_url_safe(tmp_path):
    assert run_names([tmp_path / "a" / "vae", tmp_path / "b" / "vae", tmp_path / "my run!"]) == [
        "vae",
        "vae-2",
        "my-run",
    ]


# -- image runs ----------------------------------------------------------------------------------


def test_sample_draws_a_seeded_grid(server):
    first = api(server, "/api/runs/vae/sample?n=4&seed=3")
    assert first["n"] == 4 and first["seed"] == 3
    assert picture(first["image"]).shape == (2 * 18 + 2, 2 * 18 + 2, 3)  # 2 x 2 images of 16 px, 2 px gaps
    assert api(server, "/api/runs/vae/sample?n=4&seed=3")["image"] == first["image"]
    assert api(server, "/api/runs/vae/sample?n=4&seed=4")["image"] != first["image"]


@pytest.mark.parametrize(
    "query, message",
    [("n=65", "n must be from 1 to 64"), ("n=0", "from 1"), ("n=1e9", "whole number"),
     ("seed=-1", "seed must be from 0"), ("seed=abc", "whole number")],
)  # fmt: skip
def test_sample_refuses_huge_n_and_bad_seeds(server, query, message):
    assert message in error(server, f"/api/runs/vae/sample?{query}", 400)


def test_interpolation_runs_from_seed_a_to_seed_b(server):
    def at(t, mode="slerp"):
        return api(server, f"/api/runs/vae/interpolate?a=5&b=9&t={t}&mode={mode}")

    start, middle, end = at(0), at(0.5), at(1)
    assert start["image"] == start["start"] == middle["start"] and end["image"] == end["end"] == middle["end"]
    assert middle["image"] not in (middle["start"], middle["end"])
    assert at(0, "linear")["image"] == start["image"]  # both paths start at seed A's point
    assert picture(middle["image"]).shape == (16, 16, 3)


@pytest.mark.parametrize(
    "query, message",
    [("t=1.5", "t must be a number from 0 to 1"), ("t=nan", "t must be"), ("mode=cubic", "slerp, linear")],
)
def test_interpolation_refuses_bad_positions_and_modes(server, query, message):
    assert message in error(server, f"/api/runs/vae/interpolate?{query}", 400)


def test_denoise_shows_one_sample_from_pure_noise_to_the_image_of_its_seed(server):
    data = api(server, "/api/runs/diffusion/denoise?seed=5")
    assert data["steps"] == 3 and data["sampler"] == "heun"  # the run's own steps by default
    frames = data["frames"]
    assert [f["t"] for f in frames] == pytest.approx([1.0, 2 / 3, 1 / 3, 0.0])
    states = [picture(f["state"]) for f in frames]
    assert all(s.shape == (16, 16, 3) for s in states)
    assert not np.array_equal(states[0], states[-1])  # the sampler moved away from the noise
    assert np.array_equal(picture(frames[-1]["guess"]), states[-1])  # at t = 0 the guess is the sample
    sample = picture(api(server, "/api/runs/diffusion/sample?n=1&seed=5")["image"])[2:18, 2:18]  # unpadded
    assert np.array_equal(sample, states[-1])  # the same noise as `sample` with that seed
    assert len(api(server, "/api/runs/diffusion/denoise?seed=5&steps=6")["frames"]) == 7
    assert "steps must be from 1 to 50" in error(server, "/api/runs/diffusion/denoise?steps=51", 400)


def test_reconstructing_a_heldout_image_finds_itself_nearest(server, runs):
    heldout = heldout_images(runs["vae"])  # (8, 16, 16, 3)
    upload = np.kron(heldout[3], np.ones((2, 2, 1), np.uint8))  # 32 x 32 pixel art: resized back to 16
    result = api(server, "/api/runs/vae/reconstruct?k=3", body=png_bytes(upload), method="POST")
    assert np.array_equal(picture(result["original"]), heldout[3])
    assert picture(result["reconstruction"]).shape == (16, 16, 3) and 0 <= result["mse"] < 1
    distances = [n["distance"] for n in result["neighbours"]]
    assert len(distances) == 3 and distances == sorted(distances)
    assert result["neighbours"][0]["index"] == 3 and distances[0] < 1e-4
    assert "8 held-out images" in result["neighbours_from"]


def test_uploads_that_are_empty_not_images_too_large_or_too_many_pixels_get_4xx(server):
    path = "/api/runs/vae/reconstruct"
    assert "empty" in error(server, path, 400, body=b"", method="POST")
    assert "not an image" in error(server, path, 415, body=b"GIF89a but not really", method="POST")
    assert "2 MB at most" in error(server, path, 413, body=b"\0" * (MAX_UPLOAD_BYTES + 1), method="POST")
    huge = png_bytes(np.zeros((4100, 4100), np.uint8))  # a few kB that decode to 16.8 million pixels
    assert "pixels at most" in error(server, path, 413, body=huge, method="POST")
    assert "k must be from 0 to 16" in error(server, path + "?k=99", 400, body=huge, method="POST")


def test_a_chunked_upload_is_read_like_any_other(server, runs):
    host, port = server.server_address[:2]
    image = png_bytes(heldout_images(runs["vae"])[0])
    connection = http.client.HTTPConnection(host, port, timeout=30)
    connection.request("POST", "/api/runs/vae/reconstruct", body=iter([image[:100], image[100:]]))
    response = connection.getresponse()
    assert response.status == 200 and json.loads(response.read())["neighbours"][0]["index"] == 0
    connection.close()


# -- arithmetic runs -----------------------------------------------------------------------------


def test_ask_a_text_run(server):
    result = api(server, f"/api/runs/t2t/ask?q={q(' 12 + 7 ')}")
    assert result["query"] == "12+7" and result["true_answer"] == "19"
    assert result["correct"] == (result["answer"] == "19")
    assert "cells" not in result and "answer_image" not in result


def test_ask_an_image_run_shows_the_handwriting_and_the_drawn_answer_and_writes_nothing(server, runs):
    before = sorted(p.name for p in runs["i2i"].rglob("*"))
    result = api(server, f"/api/runs/i2i/ask?q={q('20-3')}")
    assert result["query"] == "20-3" and result["true_answer"] == "17"
    assert [picture(cell).shape for cell in result["cells"]] == [(28, 28)] * 5
    assert len(result["cells_read"]) == 5
    assert picture(result["answer_image"]).shape == (28, 28 * 3)  # answers are up to 3 characters: '-20'
    assert isinstance(result["answer"], str) and "glyph classifier" in result["answer_means"]
    assert sorted(p.name for p in runs["i2i"].rglob("*")) == before


@pytest.mark.parametrize(
    "query, message",
    [("12+", "cannot read the query"), ("21+1", "out of range"), ("12*3", "cannot read"),
     ("", "type a query such as 12+7"), ("1" * 65, "64 at most")],
)  # fmt: skip
def test_malformed_and_out_of_range_queries_get_400_and_the_parsers_message(server, query, message):
    assert message in error(server, f"/api/runs/t2t/ask?q={q(query)}", 400)


def handwritten(text: str) -> bytes:
    """`text` in MNIST handwriting, 3x larger, black ink on white paper, as a PNG."""
    spec = ArithSpec(20)
    mnist = load_mnist("auto", seed=0)
    bank = GlyphBank.build(spec, mnist.images, mnist.labels, seed=5)
    cells = bank.render(spec.encode([text], 5), np.random.default_rng(0))[0]
    return png_bytes(255 - np.kron(strip(cells), np.ones((3, 3), np.uint8)))


def test_read_a_written_query_shows_the_cells_their_readings_and_the_answer(server):
    result = api(server, "/api/runs/i2i/read", body=handwritten("12+7 "), method="POST")
    assert [picture(cell).shape for cell in result["cells"]] == [(28, 28)] * 5
    assert len(result["cells_read"]) == 5
    assert result["query_read_by_glyph_classifier"][2] == "+"  # found after inverting dark-on-light
    assert picture(result["answer_image"]).shape == (28, 84) and "answer" in result


def test_read_refuses_blank_paper_non_images_and_text_runs(server):
    blank = png_bytes(np.full((64, 320), 255, np.uint8))
    assert "nothing is written" in error(server, "/api/runs/i2i/read", 400, body=blank, method="POST")
    assert "not an image" in error(server, "/api/runs/i2i/read", 415, body=b"<svg/>", method="POST")
    assert "offers ask" in error(server, "/api/runs/t2t/read", 404, body=blank, method="POST")


# -- concurrency, the command line ---------------------------------------------------------------


def test_concurrent_requests_all_succeed_and_agree(server):
    paths = ["/api/runs/vae/sample?n=9&seed=1", f"/api/runs/i2i/ask?q={q('7+8')}", "/api/runs/t2t/ask?q=3-9"]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: api(server, paths[i % 3]), range(12)))
    for i in range(3):
        assert all(answer == answers[i] for answer in answers[i::3])


def test_the_default_host_is_loopback_and_any_other_warns():
    assert (
        host_warning("127.0.0.1") is None
        and host_warning("localhost") is None
        and host_warning("::1") is None
    )
    assert "anyone who can reach" in host_warning("0.0.0.0")


def test_serving_what_is_not_a_run_or_a_busy_port_is_a_one_line_error(tmp_path, server, runs):
    result = CliRunner().invoke(app, ["serve", str(tmp_path)])
    assert isinstance(result.exception, GenlabError) and "not a genlab run" in str(result.exception)
    with pytest.raises(GenlabError, match="choose another --port"):
        start_server([runs["t2t"]], "127.0.0.1", server.server_address[1])
    with pytest.raises(GenlabError, match="--port 70000"):
        start_server([runs["t2t"]], "127.0.0.1", 70000)


def test_genlab_serve_prints_its_url_and_stops_cleanly_on_ctrl_c(runs):
    process = subprocess.Popen(
        [sys.executable, "-m", "genlab", "serve", str(runs["t2t"]), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONFAULTHANDLER": "1"},
        # a suite started in the background (`make test &`, nohup) ignores SIGINT, and the child would
        # inherit that; a terminal's Ctrl-C is what is tested
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("genlab serve: http://127.0.0.1:") and "Ctrl-C stops" in line, line
        url = line.split()[2]
        with urllib.request.urlopen(url + "api/runs/t2t/ask?q=2%2B2", timeout=30) as response:
            assert json.loads(response.read())["query"] == "2+2"
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
            stdout, stderr = process.communicate(timeout=30)
            pytest.fail(f"genlab serve did not stop within 30 s of Ctrl-C; its threads:\n{stderr[-6000:]}")
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "stopped" in stdout and "Traceback" not in stderr
