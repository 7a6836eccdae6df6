"""`genlab serve` under load on loopback: 200 requests from 8 concurrent clients to /sample and /ask.

    .venv/bin/python -m benchmarks.serve      # about half a minute on 2 cores, most of it training

Trains a tiny VAE and a tiny text->text run in a temporary folder, serves them on a free
loopback port, and sends the requests (half `sample?n=16`, half `ask`) from 8 threads, each
request with its own seed or query; every one must answer 200, within a time bound. Writes the
median and p95 latency to benchmarks/results/serve.json/.md and its section of RESULTS.md.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.common import write_results

REQUESTS = 200
CLIENTS = 8
DEADLINE_S = 300  # the whole load test; a request waits at most REQUEST_TIMEOUT_S
REQUEST_TIMEOUT_S = 60


def tiny_runs(work: Path) -> list[Path]:
    """A VAE on 40 synthetic 16x16 images and a text->text model on 0..20, each trained for seconds."""
    from genlab.arith.config import ArithConfig
    from genlab.arith.train import train_arith
    from genlab.images.config import ImageTrainConfig
    from genlab.images.train import train_images

    rng = np.random.default_rng(1)
    images = np.repeat(rng.integers(0, 256, (40, 1, 1, 3), dtype=np.uint8), 16, axis=1).repeat(16, axis=2)
    np.save(work / "squares.npy", images)
    image_cfg = ImageTrainConfig(
        model="vae",
        data=str(work / "squares.npy"),
        size=16,
        latent_dim=8,
        base_width=8,
        batch_size=8,
        epochs=2,
    )
    train_images(image_cfg, work / "vae")
    arith_cfg = ArithConfig.for_task(
        "text2text", max_int=20, hidden=32, batch_size=64, epochs=1, train_frac=0.3
    )
    train_arith(arith_cfg, work / "t2t")
    return [work / "vae", work / "t2t"]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values), q))


def load_test(url: str) -> tuple[list[dict], float]:
    """Send the requests; return one record per request and the wall time of them all."""
    paths = [
        f"api/runs/vae/sample?n=16&seed={i}"
        if i % 2 == 0
        else f"api/runs/t2t/ask?q={i % 21}%2B{(i * 7) % 21}"
        for i in range(REQUESTS)
    ]
    deadline = time.monotonic() + DEADLINE_S

    def one(path: str) -> dict:
        record = {"endpoint": path.split("/")[3].split("?")[0], "status": None, "seconds": None}
        if time.monotonic() > deadline:
            return record
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(url + path, timeout=REQUEST_TIMEOUT_S) as response:
                json.loads(response.read())
                record["status"] = response.status
        except urllib.error.HTTPError as error:
            record["status"] = error.code
        except OSError as error:  # refused, reset, timed out
            record["status"] = type(error).__name__
        record["seconds"] = time.perf_counter() - start
        return record

    start = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        records = list(pool.map(one, paths))
    return records, time.perf_counter() - start


def row(name: str, records: list[dict], wall: float | None = None) -> dict:
    seconds = [r["seconds"] for r in records if r["status"] == 200]
    return {
        "endpoint": name,
        "requests": len(records),
        "ok": len(seconds),
        "median_ms": round(1000 * statistics.median(seconds), 1),
        "p95_ms": round(1000 * percentile(seconds, 95), 1),
        "max_ms": round(1000 * max(seconds), 1),
        "requests_per_s": round(len(seconds) / wall, 1) if wall else None,
    }


def main() -> None:
    from genlab.core.progress import set_quiet
    from genlab.serve.server import start_server

    set_quiet(True)
    old_cache = os.environ.get("GENLAB_CACHE")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        os.environ["GENLAB_CACHE"] = str(work / "cache")  # nothing from or into the user's cache
        server = start_server(tiny_runs(work), "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            records, wall = load_test(server.url)
        finally:
            server.shutdown()
            server.server_close()
            if old_cache is None:
                os.environ.pop("GENLAB_CACHE", None)
            else:
                os.environ["GENLAB_CACHE"] = old_cache
    load = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    failed = [r for r in records if r["status"] != 200]
    assert not failed, f"{len(failed)} of {REQUESTS} requests failed or ran past the deadline: {failed[:3]}"
    rows = [row(name, [r for r in records if r["endpoint"] == name]) for name in ("sample", "ask")]
    rows.append(row("all", records, wall))
    write_results(
        "serve",
        f"genlab serve under load: {REQUESTS} requests from {CLIENTS} concurrent clients on loopback",
        rows,
        notes=(
            "Tiny runs (a 16x16 VAE with latent dimension 8; text->text on 0..20, hidden 32), so the "
            "numbers are the server's own cost: HTTP, JSON, PNG encoding and the per-run lock, with "
            "one model call per request. sample = a 4x4 grid (`?n=16`), ask = one typed query; each "
            "request has its own seed or query. Latency is per request, measured by the client, "
            f"queueing included; all must answer 200. Load average during the run: {load:.1f}."
        ),
        command=".venv/bin/python -m benchmarks.serve",
    )


if __name__ == "__main__":
    main()
