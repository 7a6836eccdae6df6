"""How long `load_images` takes on each kind of source, the first time and from the cache.

Every source gets a fresh, empty genlab cache, so "first load" includes everything a new user
waits for (decoding, resizing, and for punks/mnist reading the package files); "second load"
is every later run. Run: `.venv/bin/python -m benchmarks.data_loading`.
"""

from __future__ import annotations

import os
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.common import write_results

SIZE = 64


def shapes_folder(root: Path, n: int, seed: int = 0) -> Path:
    """n PNGs of mixed sizes (40-120 px) and modes (RGB, RGBA, L, P): a typical scraped folder."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    for i in range(n):
        w, h = (int(v) for v in rng.integers(40, 121, 2))
        picture = Image.new("RGB", (w, h), tuple(int(v) for v in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(picture)
        for _ in range(5):
            x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
            box = [x, y, x + int(rng.integers(5, 40)), y + int(rng.integers(5, 40))]
            draw.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        picture.convert(("RGB", "RGBA", "L", "P")[i % 4]).save(root / f"{i:04}.png")
    return root


def photo_folder(root: Path, n: int, seed: int = 1) -> Path:
    """n 3000x2000 JPEGs (smooth content, quality 90): camera photos."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True)
    base = rng.integers(0, 256, (50, 75, 3), dtype=np.uint8)
    picture = Image.fromarray(base).resize((3000, 2000), Image.BICUBIC)
    for i in range(n):
        picture.save(root / f"{i:03}.jpg", quality=90)
    return root


def timed_loads(source: str | Path, size: int | None, channels: int = 3) -> tuple[int, float, float]:
    from genlab.images.data import load_images

    with tempfile.TemporaryDirectory() as cache:
        os.environ["GENLAB_CACHE"] = cache
        start = time.perf_counter()
        first = load_images(source, size=size, channels=channels)
        cold = time.perf_counter() - start
        start = time.perf_counter()
        load_images(source, size=size, channels=channels)
        warm = time.perf_counter() - start
    return len(first), cold, warm


def main() -> None:
    from genlab.core.progress import set_quiet

    set_quiet(True)
    old_cache = os.environ.get("GENLAB_CACHE")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shapes = shapes_folder(work / "shapes", 500)
        archive = work / "shapes.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for path in sorted(shapes.iterdir()):
                zf.write(path, f"shapes/{path.name}")
        photos = photo_folder(work / "photos", 20)
        array = work / "floats.npy"
        rng = np.random.default_rng(2)
        np.save(array, rng.random((10_000, 3, 32, 32), dtype=np.float32))  # NCHW floats in [0, 1]
        cases = [
            ("folder: 500 PNGs, 40-120 px, mixed modes", shapes, SIZE),
            ("zip: the same 500 PNGs", archive, SIZE),
            ("folder: 20 JPEG photos, 3000x2000", photos, SIZE),
            (".npy: 10,000 x 3x32x32 float32 (NCHW)", array, SIZE),
            ("punks (10,000 x 24 px, nearest)", "punks", SIZE),
            ("mnist embedded (5,000 x 28 px, Lanczos)", "mnist", SIZE),
        ]
        for label, source, size in cases:
            n, cold, warm = timed_loads(source, size)
            rows.append(
                {
                    "source": label,
                    "images": n,
                    "first load (s)": round(cold, 3),
                    "images/s first": round(n / cold),
                    "second load (s)": round(warm, 3),
                }
            )
            print(rows[-1], flush=True)
    if old_cache is None:
        os.environ.pop("GENLAB_CACHE", None)
    else:
        os.environ["GENLAB_CACHE"] = old_cache
    write_results(
        "data_loading",
        f"Data loading: load_images(source, size={SIZE}, channels=3)",
        rows,
        notes=(
            "First load starts from an empty genlab cache (decode, crop, resize, and for punks/mnist "
            "reading the package files); second load is every later run (content hash + cached .npz). "
            "JPEGs are decoded in Pillow's draft mode at a reduced scale >= the target size."
        ),
        command=".venv/bin/python -m benchmarks.data_loading",
    )


if __name__ == "__main__":
    main()
