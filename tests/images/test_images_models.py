"""Image model building blocks: shapes per size, the VAE's KL and reparameterization, GAN steps,
interpolation and batch augmentation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genlab.core.errors import GenlabError
from genlab.core.rundir import RunDir
from genlab.images.augment import augment_batch
from genlab.images.autoencoders import VAE, ConvAutoencoder, kl_divergence, vae_loss
from genlab.images.config import ImageTrainConfig, parse_augment
from genlab.images.conv import PixelArtResize, conv_net, deconv_net, stage_widths
from genlab.images.data import _fit_array
from genlab.images.gan import GAN, MinibatchStdDev, discriminator_loss, ema_update, generator_loss
from genlab.images.runs import interpolate, slerp, split_indices
from genlab.images.train import ImageTrainer, epoch_order


@pytest.mark.parametrize(("size", "bottom"), [(16, 4), (32, 4), (64, 4), (128, 4), (24, 3)])
def test_builders_give_the_right_shapes_at_each_supported_size_and_the_punks_own(size, bottom):
    encoder = conv_net(size, 3, base_width=4, max_width=16)
    widths = stage_widths(size, 4, 16)
    assert len(widths) == int(math.log2(size // bottom))
    h = encoder(torch.rand(2, 3, size, size))
    assert h.shape == (2, widths[-1], bottom, bottom)
    decoder = deconv_net(size, 1, base_width=4, max_width=16)
    assert decoder(h).shape == (2, 1, size, size)


@pytest.mark.parametrize("size", [16, 32])
def test_models_map_images_to_latents_and_back(size):
    x = torch.rand(3, 3, size, size)
    cae = ConvAutoencoder(size, 3, latent_dim=5, base_width=4)
    assert cae.encode(x).shape == (3, 5) and cae(x).shape == x.shape
    vae = VAE(size, 3, latent_dim=5, base_width=4)
    logits, mu, logvar = vae(x)
    assert logits.shape == x.shape and mu.shape == logvar.shape == (3, 5)
    gan = GAN(size, 3, latent_dim=6, base_width=4)
    fake = gan.generator(torch.randn(3, 6))
    assert fake.shape == x.shape and fake.abs().max() <= 1
    assert gan.discriminator(fake).shape == (3,)


def test_unsupported_size_is_a_clear_error():
    with pytest.raises(GenlabError, match="24 is not supported"):
        ImageTrainConfig(model="gan", size=24).resolved()


def test_kl_is_zero_for_a_standard_normal_posterior_and_positive_otherwise():
    zeros = torch.zeros(4, 8)
    assert torch.allclose(kl_divergence(zeros, zeros), torch.zeros(4))
    mu, logvar = torch.randn(4, 8), torch.randn(4, 8)
    assert (kl_divergence(mu, logvar) > 0).all()
    # closed form for one dimension: 0.5 * (mu^2 + s^2 - 1 - log s^2)
    kl = kl_divergence(torch.tensor([[1.0]]), torch.tensor([[math.log(4.0)]]))
    assert kl.item() == pytest.approx(0.5 * (1 + 4 - 1 - math.log(4.0)))


def test_gradients_flow_through_the_reparameterization():
    mu = torch.zeros(5, 3, requires_grad=True)
    logvar = torch.zeros(5, 3, requires_grad=True)
    z = VAE.reparameterize(mu, logvar)
    (z**2).sum().backward()
    assert mu.grad is not None and mu.grad.abs().sum() > 0
    assert logvar.grad is not None and logvar.grad.abs().sum() > 0


def test_vae_loss_is_per_image_sum_and_beta_weights_kl():
    x = torch.rand(2, 1, 4, 4)
    logits = torch.zeros_like(x)
    mu, logvar = torch.ones(2, 3), torch.zeros(2, 3)
    one = vae_loss(x, logits, mu, logvar, beta=1.0, likelihood="bernoulli")
    two = vae_loss(x, logits, mu, logvar, beta=2.0, likelihood="bernoulli")
    assert one["kl"].item() == pytest.approx(1.5)  # 0.5 * sum(mu^2) over 3 dims
    assert (two["loss"] - one["loss"]).item() == pytest.approx(one["kl"].item())
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum") / 2
    assert one["recon"].item() == pytest.approx(expected.item(), rel=1e-5)


def test_gan_losses_behave_as_documented():
    good = torch.full((4,), 5.0)
    bad = torch.full((4,), -5.0)
    assert discriminator_loss(good, bad, "hinge").item() == 0.0
    assert discriminator_loss(bad, good, "hinge").item() == pytest.approx(12.0)
    # label smoothing: a confident real logit still has loss, -log(0.9)-ish floor
    assert discriminator_loss(good, bad, "bce", real_label=0.9).item() > 0.3
    assert generator_loss(good, "bce").item() < generator_loss(bad, "bce").item()


def _tiny_trainer(tmp_path, model="gan", n=24, **overrides):
    cfg = ImageTrainConfig(
        model=model,
        data="tiny.npy",
        size=16,
        channels=3,
        latent_dim=4,
        base_width=4,
        batch_size=8,
        **overrides,
    ).resolved()
    images = np.random.default_rng(0).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)
    train_idx, test_idx = split_indices(n, cfg.test_frac, cfg.seed)
    cfg.extra.update(train_idx=train_idx, test_idx=test_idx)
    run = RunDir.create(tmp_path / "run", f"images-{model}", {})
    return ImageTrainer(cfg, run, images, torch.device("cpu"))


def _params(module):
    return [p.detach().clone() for p in module.parameters()]


def _same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


def test_discriminator_step_leaves_the_generator_unchanged_and_vice_versa(tmp_path):
    trainer = _tiny_trainer(tmp_path)
    g, d = trainer.model.generator, trainer.model.discriminator
    real = torch.rand(8, 3, 16, 16) * 2 - 1
    fake = g(torch.randn(8, 4))
    g_before, d_before = _params(g), _params(d)
    trainer.discriminator_step(real, fake)
    assert _same(_params(g), g_before), "a discriminator step moved the generator"
    assert not _same(_params(d), d_before)
    d_after_d_step = _params(d)
    trainer.generator_step(fake)
    assert _same(_params(d), d_after_d_step), "a generator step moved the discriminator"
    assert not _same(_params(g), g_before)


def test_minibatch_std_sees_whether_a_group_of_images_differs():
    layer = MinibatchStdDev(group=4)
    torch.manual_seed(0)
    same = torch.randn(1, 8, 4, 4).expand(8, 8, 4, 4).contiguous()
    varied = torch.randn(8, 8, 4, 4)
    out_same, out_varied = layer(same), layer(varied)
    assert out_same.shape == out_varied.shape == (8, 9, 4, 4)
    assert torch.equal(out_varied[:, :8], varied)
    assert out_same[:, 8].abs().max() < 1e-3  # identical images: no spread
    assert out_varied[:, 8].min() > 0.5  # unit-variance noise: spread near 1
    # one value per group of 4 (images 0, 2, 4, 6 and 1, 3, 5, 7 group together)
    assert torch.allclose(out_varied[0, 8], out_varied[2, 8]) and torch.allclose(
        out_varied[1, 8], out_varied[7, 8]
    )
    assert layer(torch.randn(6, 8, 4, 4)).shape == (6, 9, 4, 4)  # 6 is not a multiple of 4: one group


def test_gan_discriminator_gives_one_logit_with_and_without_minibatch_std():
    for group in (0, 4):
        gan = GAN(size=16, channels=3, latent_dim=8, base_width=8, minibatch_std=group)
        assert gan.discriminator(torch.rand(8, 3, 16, 16)).shape == (8,)


def test_a_pixel_art_gan_draws_and_judges_the_punks_own_pixels():
    torch.manual_seed(0)
    gan = GAN(size=32, channels=3, latent_dim=8, base_width=8, minibatch_std=4, work_size=24)
    fake = gan.generator(torch.randn(4, 8))
    assert fake.shape == (4, 3, 32, 32) and fake.abs().max() <= 1
    shrink, enlarge = PixelArtResize(32, 24), PixelArtResize(24, 32)
    assert torch.equal(enlarge(shrink(fake)), fake)  # made of the loader's copied blocks only
    own = np.random.default_rng(0).integers(0, 256, (4, 24, 24, 3), dtype=np.uint8)
    loaded = torch.from_numpy(_fit_array(own, 32, pixel_art=True)).permute(0, 3, 1, 2)  # as punks load
    d = gan.discriminator.eval()
    assert torch.equal(d.shrink(loaded), torch.from_numpy(own).permute(0, 3, 1, 2))  # every pixel back
    scores = d(loaded.float() / 127.5 - 1)
    assert scores.shape == (4,)
    assert torch.equal(d(enlarge(shrink(loaded.float() / 127.5 - 1))), scores)  # judged on its own pixels


def test_the_gan_works_at_size_unless_asked_and_older_runs_load_at_their_size():
    assert ImageTrainConfig(model="gan", data="punks").resolved().work_size == 32
    assert ImageTrainConfig(model="gan", data="punks", work_size=24).resolved().work_size == 24
    assert ImageTrainConfig(model="vae", data="punks").resolved().work_size is None
    with pytest.raises(GenlabError, match="--work-size 24: use 32;"):
        ImageTrainConfig(model="gan", data="mnist", work_size=24).resolved()
    old = ImageTrainConfig(model="gan", data="punks").resolved().to_dict()
    old["work_size"] = None  # what runs stored before the GAN could work below --size
    assert ImageTrainConfig.from_dict(old).resolved().work_size == 32


def test_gan_runs_saved_before_minibatch_std_still_load():
    cfg = ImageTrainConfig.from_dict({"model": "gan", "data": "punks"})
    assert cfg.minibatch_std == 0
    assert ImageTrainConfig(model="gan").minibatch_std == 4
    with pytest.raises(GenlabError, match="--minibatch-std"):
        ImageTrainConfig(model="gan", minibatch_std=1).resolved()


def test_gan_runs_saved_before_d_augment_load_without_it_and_bad_values_are_named():
    assert ImageTrainConfig.from_dict({"model": "gan", "data": "punks"}).d_augment == "none"
    with pytest.raises(GenlabError, match="'flip'"):
        ImageTrainConfig(model="gan", d_augment="flip").resolved()


def test_ema_follows_the_generator_with_its_decay():
    ema, model = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    before = ema.weight.detach().clone()
    ema_update(ema, model, decay=0.75)
    assert torch.allclose(ema.weight, 0.75 * before + 0.25 * model.weight)


def test_slerp_returns_its_endpoints_and_stays_on_the_sphere():
    a = torch.nn.functional.normalize(torch.randn(3, 16), dim=1)
    b = torch.nn.functional.normalize(torch.randn(3, 16), dim=1)
    path = slerp(a, b, torch.linspace(0, 1, 7))
    assert path.shape == (3, 7, 16)
    assert torch.allclose(path[:, 0], a, atol=1e-6) and torch.allclose(path[:, -1], b, atol=1e-6)
    assert torch.allclose(path.norm(dim=2), torch.ones(3, 7), atol=1e-5)
    # a straight line between the same points cuts inside the sphere
    line = interpolate(a, b, 7, "linear")
    assert (line[:, 3].norm(dim=1) < 0.999).all()
    # parallel endpoints fall back to the line instead of dividing by zero
    same = slerp(a, a, torch.linspace(0, 1, 5))
    assert torch.isfinite(same).all() and torch.allclose(same[:, 2], a, atol=1e-6)


def test_interpolate_rejects_unknown_modes():
    with pytest.raises(GenlabError, match="linear or slerp"):
        interpolate(torch.zeros(1, 2), torch.ones(1, 2), 3, "cubic")


def test_augmentation_flips_and_shifts_whole_batches_exactly():
    x = torch.rand(64, 3, 16, 16)
    flipped = augment_batch(x, ("flip",))
    is_flip = (flipped == x.flip(3)).flatten(1).all(1)
    is_same = (flipped == x).flatten(1).all(1)
    assert (is_flip | is_same).all() and 10 < is_flip.sum() < 54
    shifted = augment_batch(x, ("shift",))
    # whole-pixel shifts move pixels, never blend them: every output value is an input value
    assert torch.isin(shifted, x).all()
    moved = augment_batch(x, ("rotate", "zoom"))
    assert moved.shape == x.shape and not torch.equal(moved, x)
    assert parse_augment("none") == () and parse_augment("flip, shift") == ("flip", "shift")
    with pytest.raises(GenlabError, match="unknown augmentation"):
        parse_augment("blur")


def test_epoch_order_depends_only_on_seed_and_epoch():
    assert torch.equal(epoch_order(50, 3, 2), epoch_order(50, 3, 2))
    assert not torch.equal(epoch_order(50, 3, 2), epoch_order(50, 3, 1))
    train, test = split_indices(100, 0.05, 0)
    assert len(test) == 5 and len(set(train) | set(test)) == 100
