"""Conditional generation: --condition for every family, asking with --label / --attrs, guidance, and
the read-back evaluation, on tiny labelled data the tests make."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from genlab.cli import app
from genlab.core.errors import GenlabError
from genlab.images.autoencoders import VAE, ConvAutoencoder
from genlab.images.conditional import (
    _edited,
    conditional_grid,
    evaluate_conditional,
    format_conditional,
    parse_requests,
    variant_suffix,
)
from genlab.images.conditions import ConditionSpace, condition_space, seen_in
from genlab.images.config import ImageTrainConfig
from genlab.images.diffusion import Diffusion
from genlab.images.features import FeatureExtractor
from genlab.images.gan import GAN
from genlab.images.runs import decode_latents, generate, latent_noise, load_trained, reconstruct
from genlab.images.train import train_images

COLOURS = np.array([[230, 40, 40], [40, 210, 40], [40, 40, 230]], np.uint8)  # class 0, 1, 2


def coloured_squares(n: int = 192, size: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A square of the class's colour at a random place on a dark background; labels (N,)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = np.full((n, size, size, 3), 20, np.uint8)
    for i, label in enumerate(labels):
        y, x = rng.integers(0, size - 8, 2)
        images[i, y : y + 8, x : x + 8] = COLOURS[label]
    return images, labels


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "squares.npz"
    images, labels = coloured_squares()
    np.savez(path, images=images, labels=labels)
    return str(path)


def colour_reader() -> FeatureExtractor:
    """Reads the class of an image back from its strongest colour channel."""
    return FeatureExtractor(
        name="colour",
        description="mean colour",
        size=16,
        channels=3,
        embed=lambda x: x.mean(dim=(2, 3)),
        classify=lambda feats: torch.softmax(30 * feats, dim=1),
        attributes=["0", "1", "2"],
    )


def tiny(model: str, data: str, **overrides) -> ImageTrainConfig:
    values = dict(
        model=model,
        data=data,
        size=16,
        latent_dim=8,
        base_width=8,
        batch_size=16,
        epochs=2,
        threads=1,
        condition="labels",
    )
    values.update(overrides)
    return ImageTrainConfig(**values)


# -- the condition space --------------------------------------------------------------------------

PUNKISH = ConditionSpace(
    "attributes", ("male", "female", "zombie", "ape", "alien", "cap", "earring", "blondeBob")
)


def test_attribute_requests_match_names_loosely_and_explain_mistakes():
    vector = PUNKISH.attrs("Zombie, CAP,earring")
    assert vector.tolist() == [0, 0, 1, 0, 0, 1, 1, 0]
    assert PUNKISH.attrs("Female,Blonde Bob")[[1, 7]].tolist() == [1, 1]
    assert PUNKISH.describe(vector) == "zombie, cap, earring"
    with pytest.raises(GenlabError, match="did you mean earring"):
        PUNKISH.attrs("zombie,earing")
    with pytest.raises(GenlabError, match="names no type"):
        PUNKISH.attrs("cap")
    with pytest.raises(GenlabError, match="two types"):
        PUNKISH.attrs("zombie,ape")
    with pytest.raises(GenlabError, match="not class labels: ask with --attrs"):
        PUNKISH.label("3")


def test_labels_take_names_or_numbers():
    space = ConditionSpace("labels", ("T-shirt", "Trouser", "Sneaker"))
    assert space.label("sneaker").tolist() == [0, 0, 1]
    assert space.label("1").tolist() == [0, 1, 0]
    with pytest.raises(GenlabError, match="did you mean Sneaker"):
        space.label("sneakr")
    with pytest.raises(GenlabError, match="not attributes"):
        space.attrs("cap")
    assert space.vectors(np.array([2, 0])).tolist() == [[0, 0, 1], [1, 0, 0]]


def test_a_source_without_the_labels_asked_for_is_one_line():
    with pytest.raises(GenlabError, match="has no labels"):
        condition_space("labels", None, None, "faces/")
    with pytest.raises(GenlabError, match="use --condition attributes"):
        condition_space("labels", np.zeros((4, 3), np.uint8), None, "punks")
    with pytest.raises(GenlabError, match="use --condition labels"):
        condition_space("attributes", np.zeros(4, np.int64), None, "mnist")


def test_seen_in_counts_images_with_every_requested_attribute():
    data = np.array([[1, 0, 0, 0, 0, 1, 1, 0], [1, 0, 0, 0, 0, 1, 0, 0]], np.float32)
    assert seen_in(data, PUNKISH.attrs("male,cap")) == 2
    assert seen_in(data, PUNKISH.attrs("male,cap,earring")) == 1
    assert seen_in(data, PUNKISH.attrs("zombie")) == 0


def test_edits_add_remove_and_swap_the_type():
    own = PUNKISH.attrs("male,earring")
    assert PUNKISH.describe(_edited(PUNKISH, own, "+cap,-earring")) == "male, cap"
    assert PUNKISH.describe(_edited(PUNKISH, own, "zombie")) == "zombie, earring"


# -- the models -----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["cae", "vae", "gan", "diffusion"])
def test_the_condition_changes_what_each_family_draws(family):
    k = 3
    if family == "diffusion":
        model = Diffusion(16, 3, base_width=8, cond_dim=k, sample_steps=2)
        for p in model.denoiser_ema.parameters():  # away from the zero-initialised start
            p.data.add_(0.05 * torch.randn_like(p))
    elif family == "gan":
        model = GAN(16, 3, latent_dim=8, base_width=8, cond_dim=k)
    else:
        model = (VAE if family == "vae" else ConvAutoencoder)(16, 3, latent_dim=8, base_width=8, cond_dim=k)
    z = model.prior_sample(latent_noise(4, model.latent_dim, 0))
    a = decode_latents(model, z, conditions=torch.eye(k)[[0, 0, 0, 0]])
    b = decode_latents(model, z, conditions=torch.eye(k)[[1, 1, 1, 1]])
    assert a.shape == (4, 3, 16, 16)
    assert (a - b).abs().max() > 1e-4


def test_guidance_zero_is_the_unconditional_prediction_and_one_the_conditional():
    model = Diffusion(16, 3, base_width=8, cond_dim=3, sample_steps=2).eval()
    for p in model.denoiser_ema.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    x, c = torch.randn(4, 3, 16, 16), torch.eye(3)[[0, 1, 2, 0]]
    with torch.no_grad():
        unconditional = model.predict(x, 0.5)[0]
        conditional = model.predict(x, 0.5, c, guidance=1.0)[0]
        assert torch.allclose(model.predict(x, 0.5, c, guidance=0.0)[0], unconditional)
        assert torch.allclose(
            model.denoiser_ema(x, torch.full((4,), 0.5), torch.zeros(4, 3)),
            model.denoiser_ema(x, torch.full((4,), 0.5)),
        )
        guided = model.predict(x, 0.5, c, guidance=3.0)[0]
    assert not torch.allclose(conditional, unconditional)
    # uncond + 3 (cond - uncond), computed in one batch of twice the size
    assert torch.allclose(guided, unconditional + 3 * (conditional - unconditional), atol=1e-4)


def test_an_unconditional_model_refuses_a_condition():
    model = GAN(16, 3, latent_dim=8, base_width=8)
    with pytest.raises(GenlabError, match="without --condition"):
        decode_latents(model, torch.randn(2, 8), conditions=torch.eye(3)[:2])


def fails(cli: CliRunner, args: list[str], message: str) -> None:
    """The command stops with a one-line GenlabError (main() prints it in red) that says `message`."""
    result = cli.invoke(app, args)
    assert isinstance(result.exception, GenlabError), result.output
    assert message in str(result.exception)


# -- training, asking and reading back ------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(labelled, tmp_path_factory):
    root = tmp_path_factory.mktemp("conditional")
    made = {}
    for family, extra in (
        ("vae", {"epochs": 30, "lr": 3e-3}),
        ("gan", {"epochs": 30, "lr": 2e-3}),
        (
            "diffusion",
            {"epochs": 40, "sample_steps": 4, "lr": 2e-3, "latent_dim": None, "ema": 0.99, "guidance": 3.0},
        ),
        ("cae", {"epochs": 2}),
    ):
        made[family] = train_images(tiny(family, labelled, **extra), root / family)
    return made


def test_every_family_trains_conditionally_and_records_its_classes(runs):
    for family, run in runs.items():
        config = json.loads((run.path / "config.json").read_text())["config"]
        assert config["condition"] == "labels"
        assert config["extra"]["condition"] == {"kind": "labels", "names": ["0", "1", "2"]}, family
        assert (run.samples_dir / "epoch_002.png").exists()
        images = generate(run, n=3, seed=1, conditions=torch.eye(3))
        assert images.shape == (3, 3, 16, 16)
        assert torch.equal(images, generate(run, n=3, seed=1, conditions=torch.eye(3)))


@pytest.mark.parametrize("family", ["vae", "gan", "diffusion"])
def test_a_tiny_conditional_model_draws_the_class_it_is_asked_for(runs, family):
    record = evaluate_conditional(runs[family], n=60, seed=0, reader=colour_reader(), figure=False)
    assert [g["name"] for g in record["groups"]] == ["0", "1", "2"]
    assert all(g["real_read_back"] == 1.0 for g in record["groups"])
    assert record["read_back_mean"] > 0.65, format_conditional(record)  # chance: 1/3
    stored = json.loads((runs[family].path / "eval_conditional.json").read_text())
    assert stored["read_back_mean"] == record["read_back_mean"]


def test_conditional_vae_reconstructs_with_the_images_own_condition(runs):
    from genlab.images.runs import heldout_images, run_conditions, to_float

    test = heldout_images(runs["vae"])
    own = run_conditions(runs["vae"], "test")
    assert own.shape == (len(test), 3)
    recon = reconstruct(runs["vae"], test, conditions=own)
    assert (recon - to_float(test)).pow(2).mean() < 0.05


def test_sample_evaluate_interpolate_and_edit_commands(runs, tmp_path, monkeypatch):
    cli = CliRunner()
    run = str(runs["vae"].path)
    result = cli.invoke(app, ["images", "sample", run, "--label", "0", "--label", "2", "--n", "5"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("samples_asked_seed0.png")
    result = cli.invoke(app, ["images", "sample", run, "--label", "all", "--out", str(tmp_path / "all.png")])
    assert result.exit_code == 0 and (tmp_path / "all.png").stat().st_size > 1000
    fails(cli, ["images", "sample", run, "--label", "7"], "unknown label '7'")
    fails(cli, ["images", "sample", run, "--attrs", "cap"], "ask with --label")
    fails(cli, ["images", "sample", run, "--label", "1", "--guidance", "2"], "belongs to diffusion")
    result = cli.invoke(app, ["images", "interpolate", run, "--from", "0", "--to", "2", "--pairs", "2"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("morph.png")
    result = cli.invoke(app, ["images", "edit", run, "1", "--n", "4"])
    assert result.exit_code == 0, result.output
    assert (runs["vae"].figures_dir / "edit.png").stat().st_size > 1000
    fails(cli, ["images", "edit", str(runs["gan"].path), "1"], "need a cae or vae")
    fails(cli, ["images", "evaluate", run, "--conditional"], "needs a classifier")
    diffusion = str(runs["diffusion"].path)
    result = cli.invoke(app, ["images", "sample", diffusion, "--label", "1", "--guidance", "0", "--n", "2"])
    assert result.exit_code == 0, result.output


def test_a_conditional_vae_samples_its_prior_a_little_shrunk_and_sample_can_change_it(runs):
    assert ImageTrainConfig(model="vae", data="mnist", condition="labels").resolved().temperature == 0.8
    assert ImageTrainConfig(model="diffusion", data="mnist", condition="labels").resolved().lr == 1e-3
    assert ImageTrainConfig(model="diffusion", data="mnist").resolved().lr == 2e-3
    assert (
        ImageTrainConfig(model="diffusion", data="mnist", condition="labels", lr=3e-3).resolved().lr == 3e-3
    )
    for model, condition in (("vae", "none"), ("gan", "labels"), ("gan", "none")):
        assert ImageTrainConfig(model=model, data="mnist", condition=condition).resolved().temperature == 1.0
    with pytest.raises(GenlabError, match="--temperature 0: use a scale above 0"):
        ImageTrainConfig(model="gan", data="mnist", temperature=0).resolved()
    stored = ImageTrainConfig.from_dict({"model": "vae", "data": "mnist", "condition": "labels"})
    assert stored.temperature == 1.0  # a run from before the option samples as it did then

    model, cfg = load_trained(runs["vae"].path)
    assert cfg.temperature == model.temperature == 0.8
    eps = latent_noise(3, cfg.latent_dim, 4)
    asked = torch.eye(3)
    own = generate(model, n=3, seed=4, conditions=asked)
    assert torch.allclose(own, decode_latents(model, 0.8 * eps, conditions=asked))
    hotter = generate(model, n=3, seed=4, conditions=asked, temperature=1.5)
    assert torch.allclose(hotter, decode_latents(model, 1.5 * eps, conditions=asked))
    assert (hotter - own).abs().max() > 1e-3

    cli = CliRunner()
    run = str(runs["vae"].path)
    result = cli.invoke(app, ["images", "sample", run, "--label", "1", "--n", "3", "--temperature", "0.5"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("samples_asked_seed0_temp0.5.png")
    fails(cli, ["images", "sample", run, "--temperature", "-1"], "--temperature -1: use a scale above 0")
    diffusion = str(runs["diffusion"].path)
    fails(cli, ["images", "sample", diffusion, "--temperature", "0.5"], "not a diffusion's")


def test_a_gan_without_condition_dropout_draws_unasked_images_for_the_datas_conditions(runs):
    from genlab.images.runs import run_conditions, unasked_conditions

    gan = json.loads((runs["gan"].path / "config.json").read_text())["config"]
    assert gan["condition_dropout"] == 0.0  # the GAN's default: it never learns "no condition"
    own = run_conditions(runs["gan"], "train")
    assert gan["extra"]["condition_bank"] == len(own)
    model, _ = load_trained(runs["gan"].path)
    assert torch.equal(model.condition_bank.float(), torch.as_tensor(own).float())

    unasked = unasked_conditions(model, 60, seed=5)
    assert unasked.shape == (60, 3) and set(unasked.sum(1).tolist()) == {1.0}
    assert len(set(unasked.argmax(1).tolist())) == 3  # every class of the data, drawn at random
    images = generate(model, n=60, seed=5)
    assert torch.equal(images, generate(model, n=60, seed=5, conditions=unasked))
    read = colour_reader().classify(colour_reader().embed(images)).argmax(1)
    assert (read == unasked.argmax(1)).float().mean() > 0.65  # chance: 1/3

    vae = json.loads((runs["vae"].path / "config.json").read_text())["config"]
    assert vae["condition_dropout"] == 0.1 and "condition_bank" not in vae["extra"]
    assert unasked_conditions(load_trained(runs["vae"].path)[0], 4, seed=0) is None
    result = CliRunner().invoke(app, ["images", "interpolate", str(runs["gan"].path), "--pairs", "2"])
    assert result.exit_code == 0, result.output


def test_autoguidance_and_checkpoint_reach_every_way_of_asking(runs, tmp_path):
    cli = CliRunner()
    run = runs["diffusion"].path
    result = cli.invoke(
        app, ["images", "sample", str(run), "--label", "1", "--n", "3", "--autoguidance", "2"]
    )
    assert result.exit_code == 0, result.output
    pushed = result.output.strip()
    assert pushed.endswith("samples_asked_seed0_ag2.png")
    result = cli.invoke(app, ["images", "sample", str(run), "--label", "1", "--n", "3"])
    assert not np.array_equal(np.asarray(Image.open(pushed)), np.asarray(Image.open(result.output.strip())))
    morph = tmp_path / "morph.png"
    args = ["images", "interpolate", str(run), "--from", "0", "--to", "2", "--pairs", "1", "--steps", "3"]
    result = cli.invoke(app, [*args, "--autoguidance", "2", "--checkpoint", "last", "--out", str(morph)])
    assert result.exit_code == 0 and morph.exists(), result.output
    fails(cli, ["images", "interpolate", str(run), "--guidance", "2"], "give --from and --to too")
    fails(
        cli, ["images", "sample", str(runs["gan"].path), "--label", "1", "--autoguidance", "2"], "not a gan's"
    )

    record = evaluate_conditional(
        runs["diffusion"], n=30, reader=colour_reader(), figure=False, autoguidance=2.0, checkpoint="last"
    )
    assert (record["autoguidance"], record["checkpoint"], record["guidance"]) == (2.0, "last", 3.0)
    assert json.loads((run / "eval_conditional_last_ag2.json").read_text())["autoguidance"] == 2.0
    assert variant_suffix("best", 3.0, None) == "_g3" and variant_suffix() == ""
    assert "(guidance 3, autoguidance 2)" in format_conditional(record)
    assert (
        evaluate_conditional(runs["diffusion"], n=30, reader=colour_reader(), figure=False)["autoguidance"]
        == 1
    )
    with pytest.raises(GenlabError, match="no checkpoint"):
        evaluate_conditional(runs["diffusion"], n=30, reader=colour_reader(), checkpoint="epoch_999")


def test_evaluation_figures_and_a_baseline(runs, labelled, tmp_path):
    plain = train_images(tiny("gan", labelled, condition="none", epochs=1), tmp_path / "plain")
    record = evaluate_conditional(runs["gan"], n=60, seed=0, reader=colour_reader(), baseline=plain.path)
    assert all("baseline_share" in g for g in record["groups"])
    assert (runs["gan"].figures_dir / "conditional.png").stat().st_size > 5000
    assert (runs["gan"].figures_dir / "conditional_samples.png").stat().st_size > 1000
    with pytest.raises(GenlabError, match="itself conditional"):
        evaluate_conditional(
            runs["gan"], n=30, reader=colour_reader(), baseline=runs["vae"].path, figure=False
        )


def test_a_plain_run_cannot_be_asked_and_a_missing_label_source_is_one_line(tmp_path, labelled):
    images, _ = coloured_squares(32)
    np.save(tmp_path / "nolabels.npy", images)
    with pytest.raises(GenlabError, match="has no labels"):
        train_images(tiny("vae", str(tmp_path / "nolabels.npy")), tmp_path / "run")
    plain = train_images(tiny("vae", labelled, condition="none", epochs=1), tmp_path / "plain")
    with pytest.raises(GenlabError, match="trained without --condition"):
        parse_requests(plain, ["1"])
    with pytest.raises(GenlabError, match="trained without --condition"):
        conditional_grid(plain, ["1"])
    _, cfg = load_trained(plain)
    assert cfg.condition == "none"


def test_plain_evaluation_of_a_conditional_run_draws_for_real_conditions(runs):
    from genlab.images.evaluate import evaluate_run

    record = evaluate_run(runs["vae"], "pixels", n=40, figure=False)
    assert record["conditioned_on"] == "the labels of 40 real images"
    assert record["recon_n"] > 0 and record["recon_psnr"] > 10


def test_balance_weights_raise_rare_types_and_weighted_epochs_repeat_exactly():
    from genlab.images.train import epoch_order

    vectors = np.zeros((100, PUNKISH.dim), np.float32)
    vectors[:90, 0] = 1  # 90 males
    vectors[90:, 2] = 1  # 10 zombies
    weights = PUNKISH.balance_weights(vectors, 1.0)
    assert weights[90:].sum() == pytest.approx(weights[:90].sum())  # power 1: each type equally often
    assert np.allclose(PUNKISH.balance_weights(vectors, 0.0), 1.0)
    half = PUNKISH.balance_weights(vectors, 0.5)
    assert weights[0] < half[0] < 1.0 < half[99] < weights[99]
    order = epoch_order(100, seed=3, epoch=2, weights=torch.from_numpy(weights))
    assert torch.equal(order, epoch_order(100, seed=3, epoch=2, weights=torch.from_numpy(weights)))
    assert 30 < int((order >= 90).sum()) < 70  # zombies: 10% of the data, half of the draws


def test_the_report_shows_what_was_asked_and_read_back(runs, tmp_path):
    from genlab.report import build_report

    evaluate_conditional(runs["diffusion"], n=30, seed=0, reader=colour_reader())
    page = build_report([runs["diffusion"].path], tmp_path / "report.html").read_text()
    assert "Asking for a class" in page and "read back as asked" in page
    assert "Asked for each class" in page  # the conditional_samples figure, with its own caption
    assert ">labels</td>" in page  # the facts table names the condition


def test_the_serve_page_can_ask_a_conditional_run(runs):
    from genlab.serve.image_runs import ServedImageRun
    from genlab.serve.payload import HTTPError, Request

    served = ServedImageRun("cdiff", runs["diffusion"].path)
    summary = served.summary()
    assert summary["condition"] == {"kind": "labels", "names": ["0", "1", "2"]}
    asked = served.sample(Request({"n": "4", "seed": "2", "ask": "1", "guidance": "0"}))
    assert asked["asked"] == "1" and asked["image"].startswith("data:image/png;base64,")
    unconditional = served.sample(Request({"n": "4", "seed": "2"}))
    assert unconditional["asked"] is None
    # guidance 0 is the unconditional model: the same grid as not asking
    assert asked["image"] == unconditional["image"]
    with pytest.raises(HTTPError, match="unknown label '9'"):
        served.sample(Request({"ask": "9"}))


def test_an_auxiliary_classifier_reads_the_condition_and_the_gan_draws_what_was_asked(labelled, tmp_path):
    gan = GAN(size=16, latent_dim=8, base_width=8, cond_dim=3, minibatch_std=4, aux_classifier=True)
    x, c = torch.rand(8, 3, 16, 16), torch.eye(3)[torch.arange(8) % 3]
    logits, aux = gan.discriminator(x, c, with_aux=True)
    assert logits.shape == (8,) and aux.shape == (8, 3)
    assert torch.equal(gan.discriminator(x, c), logits)  # the plain call is unchanged
    run = train_images(tiny("gan", labelled, epochs=30, lr=2e-3, aux_weight=1.0), tmp_path / "acgan")
    assert json.loads((run.path / "config.json").read_text())["config"]["aux_weight"] == 1.0
    record = evaluate_conditional(run, n=60, seed=0, reader=colour_reader(), figure=False)
    assert record["read_back_mean"] > 0.65, format_conditional(record)  # chance: 1/3
    model, _ = load_trained(run)
    assert model.discriminator.aux is not None


def test_the_auxiliary_classifier_needs_a_conditional_gan():
    with pytest.raises(
        GenlabError, match="--aux-weight 1.0: the auxiliary classifier is a conditional GAN's"
    ):
        tiny("vae", "mnist", aux_weight=1.0).resolved()
    with pytest.raises(GenlabError, match="--aux-weight -1.0: use 0"):
        tiny("gan", "mnist", aux_weight=-1.0).resolved()
    assert ImageTrainConfig.from_dict({"model": "gan", "data": "mnist"}).aux_weight == 0.0  # older runs
    assert tiny("gan", "mnist").resolved().aux_weight == 0.3  # a conditional GAN's default
    assert tiny("gan", "mnist", condition="none").resolved().aux_weight == 0.0
    assert tiny("vae", "mnist").resolved().aux_weight == 0.0
    stored = {"model": "gan", "data": "mnist", "condition": "labels", "aux_weight": 0.0}
    assert ImageTrainConfig.from_dict(stored).aux_weight == 0.0  # off stays off, not "chosen for you"


def test_the_gan_loss_is_hinge_unless_conditional_and_a_bad_one_is_named():
    assert tiny("gan", "mnist", condition="none").resolved().gan_loss == "hinge"
    assert tiny("gan", "mnist").resolved().gan_loss == "bce"  # what the auxiliary classifier was tuned on
    assert tiny("gan", "mnist", condition="none", gan_loss="bce").resolved().gan_loss == "bce"
    with pytest.raises(GenlabError, match="--gan-loss wasserstein: use one of hinge, bce"):
        tiny("gan", "mnist", gan_loss="wasserstein").resolved()
    stored = {"model": "gan", "data": "mnist", "condition": "none", "gan_loss": "bce"}
    assert ImageTrainConfig.from_dict(stored).resolved().gan_loss == "bce"  # older runs keep theirs
