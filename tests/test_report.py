import json
from html.parser import HTMLParser

import numpy as np
import pytest
from typer.testing import CliRunner

from genlab.cli import app
from genlab.core.errors import GenlabError
from genlab.core.grid import save_grid
from genlab.core.rundir import RunDir
from genlab.report import build_report


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs))

    def handle_data(self, data):
        self.text.append(data)


def parse(path):
    collector = Collector()
    collector.feed(path.read_text())
    collector.close()
    return collector, " ".join(collector.text)


def make_image_run(path, kind="images-vae"):
    config = {"extra": {"source": "CryptoPunks test source"}, "size": 16, "seed": 3}
    run = RunDir.create(path, kind, config)
    save_grid(np.random.default_rng(0).random((4, 3, 16, 16)), run.figures_dir / "samples.png")
    run.append_metrics({"epoch": 1, "loss": 1.0, "train_seconds": 2.5})
    run.append_metrics({"eval": True, "features": "pixels (weak)", "fid": 12.5})
    return run


def make_arith_run(path):
    config = {"task": "img2text", "train_frac": 0.5, "enc_layers": 1, "dec_layers": 1, "seed": 1}
    run = RunDir.create(path, "arith", config)
    run.append_metrics({"epoch": 1, "train_loss": 0.3, "seconds": 4.0})
    evaluation = {"accuracy": 0.987, "char_accuracy": 0.995, "mnist_source": "embedded test digits"}
    (run.path / "evaluation.json").write_text(json.dumps(evaluation))
    table = "## By operator\n\n| op | error rate |\n|---|---|\n| + | 0.01 |\n"
    (run.figures_dir / "errors.md").write_text(table)
    save_grid(np.zeros((2, 1, 8, 8)), run.figures_dir / "examples.png")
    return run


def test_report_embeds_figures_and_states_sources(tmp_path):
    image_run = make_image_run(tmp_path / "vae")
    arith_run = make_arith_run(tmp_path / "t2t")
    out = build_report([image_run.path, arith_run.path], tmp_path / "report.html", timings={"x": 1.0})
    collector, text = parse(out)
    assert len(collector.images) == 2
    assert all(img["src"].startswith("data:image/png;base64,") and img["alt"] for img in collector.images)
    assert "CryptoPunks test source" in text and "MNIST: embedded test digits" in text
    assert "Variational autoencoder" in text and "Sequence-to-sequence arithmetic" in text
    assert "98.70%" in text and "By operator" in text and "pixels (weak)" in text


def test_parts_without_runs_are_left_out(tmp_path):
    image_run = make_image_run(tmp_path / "gan", kind="images-gan")
    _, text = parse(build_report([image_run.path], tmp_path / "r.html"))
    assert "Generative image models" in text
    assert "Sequence-to-sequence" not in text


def test_report_command_and_bad_input(tmp_path):
    run = make_arith_run(tmp_path / "t2t")
    result = CliRunner().invoke(app, ["report", str(run.path), "--out", str(tmp_path / "r.html")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "r.html").exists()
    with pytest.raises(GenlabError, match="not a genlab run"):
        (tmp_path / "plain").mkdir()
        build_report([tmp_path / "plain"], tmp_path / "x.html")


def test_summary_puts_each_models_headline_beside_the_assignment_reports(tmp_path):
    from genlab.report import summary_rows

    image_run = make_image_run(tmp_path / "gan", kind="images-gan")
    image_run.append_metrics({"eval": True, "features": "punks", "fid": 2.0, "floor_fid": 0.06})
    arith = [make_arith_run(tmp_path / "i2t")]
    for layers, acc in ((1, 0.995), (2, 0.9912)):
        config = {"task": "text2text", "train_frac": 0.1, "enc_layers": layers, "dec_layers": 1}
        run = RunDir.create(tmp_path / f"t2t{layers}", "arith", config)
        (run.path / "evaluation.json").write_text(json.dumps({"accuracy": acc, "char_accuracy": 1.0}))
        arith.append(run)
    rows = summary_rows([image_run], arith)
    assert [r["model"] for r in rows] == [
        "GAN",
        "text -> text, 10% of queries for training",
        "handwriting -> text, 50% of queries for training",
    ]
    assert rows[0]["measured here"] == "FID 2 (floor 0.06) in punks features"
    assert "complex number" in rows[0]["assignment reports"]
    assert rows[1]["measured here"] == (
        "exact match 99.50% (1 encoder layer), 99.12% (2 encoder layers) on unseen test queries"
    )
    assert rows[1]["assignment reports"] == "72.94%"
    assert rows[2]["assignment reports"] == "92.5-95.8% (train fraction not stated)"
    page = build_report([image_run.path, *(r.path for r in arith)], tmp_path / "r.html").read_text()
    assert "<h2>At a glance</h2>" in page and page.index('id="summary"') < page.index('id="part0"')


def make_text2img_run(path, style=None):
    config = {"task": "text2img", "train_frac": 0.5, "enc_layers": 1, "dec_layers": 1, "seed": 0}
    run = RunDir.create(path, "arith", config)
    run.append_metrics({"epoch": 1, "train_loss": 0.3, "seconds": 4.0})
    quality = {
        "digits": 1000,
        "fid_digits": 41.5,
        "fid_floor": 29.83,
        "fid_over_floor": 41.5 / 29.83,
        "fid_answer_mix": 113.5,
        "diversity_share_of_real": 1.011,
        "new_writers_from": "the style codes of 256 real drawings",
    }
    evaluation = {"accuracy": 0.985, "char_accuracy": 0.995, "readback_accuracy": 0.985}
    evaluation["handwriting"] = quality
    if style:
        evaluation["style"] = style
    (run.path / "evaluation.json").write_text(json.dumps(evaluation))
    return run


def test_handwritten_answers_get_the_appearance_question_answered_with_their_numbers(tmp_path):
    plain = make_arith_run(tmp_path / "i2t")
    written = make_text2img_run(tmp_path / "t2i")
    styled = make_text2img_run(
        tmp_path / "i2i", style={"closer_to_own_query": 0.787, "answers_written_in": "the query's style"}
    )
    _, text = parse(build_report([plain.path, written.path, styled.path], tmp_path / "r.html"))
    assert text.count("What can you say about the appearance of these generated images?") == 2
    assert (
        "read back 98.50% of whole answers; FID 41.5 against real test-pool digits in the same mix of "
        "digits, beside a real-vs-real floor of 29.8 (1.4 times the floor; 113.5 in the answers' own mix"
    ) in text
    assert "diversity 101% of real handwriting's. New writers come from the style codes of 256 real" in text
    assert "written in the query's style" in text and "random other query in 79% of queries" in text
    assert "answers in varied handwriting: FID 1.4x the real floor, diversity 101%" in text  # the summary


def test_conditional_runs_and_model_kinds_are_named_in_the_summary(tmp_path):
    plain = make_image_run(tmp_path / "gan", kind="images-gan")
    asked = RunDir.create(tmp_path / "cgan", "images-gan", {"size": 16, "condition": "attributes"})
    asked.append_metrics({"eval": True, "features": "punks", "fid": 0.316, "floor_fid": 0.167})
    groups = [{"name": n, "asked": 400, "train_images": c, "read_back": r, "real_read_back": 1.0}
              for n, c, r in (("male", 5731, 1.0), ("zombie", 85, 0.835), ("alien", 9, 0.035))]  # fmt: skip
    record = {"condition": "attributes", "groups": groups, "accessory_read_back_mean": 0.652,
              "accessory_real_read_back_mean": 0.961, "accessory_read_back_min": "blackLipstick",
              "unrequested_rate": 0.0004, "real_unrequested_rate": 0.0003}  # fmt: skip
    (asked.path / "eval_conditional.json").write_text(json.dumps(record))
    cells = []
    for arch, layers, acc in (("gru", 1, 0.99), ("gru", 2, 0.992), ("transformer", 2, 0.787)):
        config = {"task": "text2text", "train_frac": 0.1, "enc_layers": layers, "arch": arch}
        cell = RunDir.create(tmp_path / f"{arch}{layers}", "arith", config)
        (cell.path / "evaluation.json").write_text(json.dumps({"accuracy": acc, "char_accuracy": acc}))
        cells.append(cell.path)
    out = build_report([plain.path, asked.path, *cells], tmp_path / "r.html")
    _, text = parse(out)
    html = out.read_text()
    assert "GAN conditional on attributes" in text and "Asking for a punk" in text
    assert ("asked for each type, read back as asked: male 100%, zombie 84%, alien 4%; accessories shown "
            "when asked: 65%") in text  # fmt: skip
    assert ("show in 65.2% of the images asked for them (the same classifier reads them on 96.1% of the real "
            "punks that have them; lowest: blackLipstick)") in text  # fmt: skip
    assert html.count('<td class="">not part of the assignment</td>') >= 1
    assert ("99.00% (GRU, 1 encoder layer), 99.20% (GRU, 2 encoder layers), 78.70% (transformer, 2 encoder "
            "layers)") in text  # fmt: skip
    assert "The <b>transformer</b> rows" in html
