"""`genlab images export` and `genlab arith export`: the exported file runs in a Python that never
imports genlab (torch.export.load, or onnxruntime where installed) and gives genlab's outputs."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from genlab.arith.inference import predict
from genlab.arith.runs import load_model
from genlab.cli import app
from genlab.core.errors import GenlabError
from genlab.core.rundir import RunDir
from genlab.images.runs import generate, latent_noise, load_trained, prior_latents

runner = CliRunner()
TINY = ["--size", "16", "--latent-dim", "4", "--base-width", "4", "--batch-size", "8", "--threads", "1"]
HAVE_ONNX = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))

# runs in a fresh interpreter: loads the exported program and applies it to the saved input
WITHOUT_GENLAB = textwrap.dedent(
    """
    import sys
    import numpy as np
    path, inputs, outputs = sys.argv[1:]
    x = np.load(inputs)
    if path.endswith(".pt2"):
        import torch
        y = torch.export.load(path).module()(torch.from_numpy(x)).numpy()
    else:
        import onnxruntime
        session = onnxruntime.InferenceSession(path)
        y = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert not any(name.split(".")[0] == "genlab" for name in sys.modules), "genlab was imported"
    np.save(outputs, y)
    """
)


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def run_without_genlab(path, x: np.ndarray, tmp_path) -> np.ndarray:
    np.save(tmp_path / "x.npy", x)
    subprocess.run(
        [sys.executable, "-c", WITHOUT_GENLAB, str(path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
        check=True,
        cwd=tmp_path,
        timeout=120,
    )
    return np.load(tmp_path / "y.npy")


@pytest.fixture(scope="module")
def image_runs(tmp_path_factory):
    rng = np.random.default_rng(1)
    images = np.repeat(rng.integers(0, 256, (40, 1, 1, 3), dtype=np.uint8), 16, axis=1).repeat(16, axis=2)
    images[:, 4:12, 4:12] = rng.integers(0, 256, (40, 1, 1, 3), dtype=np.uint8)
    root = tmp_path_factory.mktemp("runs")
    np.save(root / "squares.npy", images)
    for model in ("cae", "gan"):
        invoke("images", "train", "--model", model, "--data", root / "squares.npy", "--out", root / model,
               "--epochs", "1", *TINY)  # fmt: skip
    return root


@pytest.fixture(scope="module")
def t2t(tmp_path_factory):
    out = tmp_path_factory.mktemp("arith") / "t2t"
    invoke("arith", "train", "--task", "text2text", "--out", out, "--max-int", "20", "--hidden", "16",
           "--batch-size", "64", "--train-frac", "0.5", "--epochs", "2")  # fmt: skip
    return out


@pytest.mark.parametrize("model", ["cae", "gan"])
def test_an_exported_image_sampler_matches_genlab_without_importing_it(image_runs, model, tmp_path):
    run = image_runs / model
    out = invoke("images", "export", run, "--format", "pt2").output
    name = "generator" if model == "gan" else "decoder"
    path = run / "export" / f"{name}.pt2"
    assert str(path) in out
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["inputs"][0]["shape"] == ["N", 4] and sidecar["latent_dim"] == 4
    assert sidecar["outputs"][0]["shape"] == ["N", 3, 16, 16] and sidecar["outputs"][0]["range"] == [0, 1]
    z = latent_noise(5, 4, seed=3)  # another batch size than the export's example
    images = run_without_genlab(path, z.numpy(), tmp_path)
    expected = generate(run, n=5, seed=3)  # draws the same noise, then maps and decodes it
    np.testing.assert_allclose(images, expected.numpy(), atol=1e-5)
    assert images.min() >= 0 and images.max() <= 1


def test_a_cae_export_maps_the_noise_to_the_codes_it_was_fitted_to(image_runs, tmp_path):
    model, _ = load_trained(image_runs / "cae")
    z = prior_latents(model, 3, seed=0)
    assert not torch.allclose(z, latent_noise(3, 4, seed=0))  # the mapping is not the identity


def test_an_exported_answerer_gives_genlab_s_answers_without_importing_it(t2t, tmp_path):
    invoke("arith", "export", t2t)
    path = t2t / "export" / "answerer.pt2"
    sidecar = json.loads(path.with_suffix(".json").read_text())
    vocab = sidecar["vocabulary"]
    assert sidecar["inputs"][0]["shape"] == ["N", 5] and sidecar["outputs"][0]["shape"] == ["N", 3]
    assert sidecar["labels"][vocab.index("+")] == "plus"
    example = sidecar["inputs"][0]["example"]
    assert "".join(vocab[t] for t in example["tokens"]) == example["query"]
    queries = np.random.default_rng(0).integers(0, len(vocab) - 1, (7, 5))
    answers = run_without_genlab(path, queries, tmp_path)
    expected = predict(load_model(RunDir(t2t)), torch.from_numpy(queries))
    np.testing.assert_array_equal(answers, expected)


@pytest.mark.skipif(not HAVE_ONNX, reason="the onnx extra (onnx, onnxscript, onnxruntime) is not installed")
def test_an_onnx_gan_generator_and_answerer_match_genlab_in_onnxruntime(image_runs, t2t, tmp_path):
    invoke("images", "export", image_runs / "gan", "--format", "onnx")
    z = latent_noise(3, 4, seed=1)
    images = run_without_genlab(image_runs / "gan" / "export" / "generator.onnx", z.numpy(), tmp_path)
    np.testing.assert_allclose(images, generate(image_runs / "gan", n=3, seed=1).numpy(), atol=1e-4)
    invoke("arith", "export", t2t, "--format", "onnx", "--out", tmp_path / "answerer.onnx")
    queries = np.random.default_rng(1).integers(0, 12, (4, 5))
    answers = run_without_genlab(tmp_path / "answerer.onnx", queries, tmp_path)
    np.testing.assert_array_equal(answers, predict(load_model(RunDir(t2t)), torch.from_numpy(queries)))


def test_onnx_without_the_extra_and_unknown_formats_are_one_line_errors(image_runs, monkeypatch):
    with pytest.raises(GenlabError, match="--format 'tflite': use pt2"):
        invoke("images", "export", image_runs / "gan", "--format", "tflite")
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else real(name, *a)
    )
    with pytest.raises(GenlabError, match=r"needs the onnx package: pip install 'genlab\[onnx\]'"):
        invoke("images", "export", image_runs / "gan", "--format", "onnx")
