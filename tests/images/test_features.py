"""Feature extractors: one interface, resizing inside, trained ones cached with their accuracy,
Inception only from local weights."""

from __future__ import annotations

import warnings

import pytest
import torch
from safetensors.torch import save_file

from genlab.core.errors import GenlabError
from genlab.images import punks_classifier as punks_module
from genlab.images.features import (
    INCEPTION_ENV,
    as_image_batch,
    digits_extractor,
    get_extractor,
    inception_extractor,
    punks_at_native_size,
    punks_extractor,
    resize,
)
from genlab.images.punks_classifier import (
    PunksClassifierConfig,
    PunksReaderConfig,
    PunksTrainConfig,
    heldout_scores,
    load_punks_classifier,
    load_punks_reader,
    type_and_accessory_scores,
)

TINY_PUNKS = PunksTrainConfig(epochs=1, limit=600, model=PunksClassifierConfig(width=8, feature_dim=32))


def test_images_are_converted_and_resized_for_each_space():
    grey = torch.rand(5, 1, 28, 28)
    rgb = resize(grey, 24, 3)
    assert rgb.shape == (5, 3, 24, 24)
    assert torch.allclose(rgb[:, 0], rgb[:, 2])
    back = resize(torch.rand(2, 3, 32, 32), 28, 1)
    assert back.shape == (2, 1, 28, 28) and 0 <= back.min() and back.max() <= 1
    assert as_image_batch(torch.full((1, 3, 4, 4), 255, dtype=torch.uint8)).max() == 1.0
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        as_image_batch(torch.full((1, 3, 4, 4), 2.0))


def test_pixels_are_labelled_weak_and_keep_channels():
    extractor = get_extractor("pixels")
    assert extractor.weak and "WEAK" in extractor.label()
    assert extractor(torch.rand(7, 3, 32, 32)).shape == (7, 12 * 12 * 3)
    assert extractor(torch.rand(7, 1, 28, 28)).shape == (7, 12 * 12)


def test_unknown_feature_space_is_a_user_error():
    with pytest.raises(GenlabError, match="use one of punks, digits, inception, pixels"):
        get_extractor("vgg")


def test_inception_without_weights_fails_clearly(monkeypatch):
    monkeypatch.delenv(INCEPTION_ENV, raising=False)
    with pytest.raises(GenlabError, match="--inception-weights PATH") as info:
        get_extractor("inception")
    assert "never downloads" in str(info.value) and INCEPTION_ENV in str(info.value)
    with pytest.raises(GenlabError, match="do not exist"):
        inception_extractor("/nonexistent/inception.pt")


def test_inception_refuses_weights_of_another_network(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(GenlabError, match="not an Inception-v3 state dict"):
        inception_extractor(path)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(GenlabError, match="cannot read"):
        inception_extractor(junk)


def test_inception_loads_fid_and_torchvision_state_dicts(tmp_path):
    from genlab.images.inception import InceptionV3Features

    # the FID weights of pytorch-fid: torchvision's key names, a 1008-class fc, no auxiliary head
    state = InceptionV3Features(fid_variant=True).state_dict()
    assert "Mixed_7c.branch3x3dbl_3b.bn.running_var" in state and "Conv2d_1a_3x3.conv.weight" in state
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    state |= {"fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}
    fid_path = tmp_path / "pt_inception.pth"
    torch.save(state, fid_path)
    extractor = inception_extractor(fid_path)
    assert "FID weights" in extractor.description
    feats = extractor(torch.rand(2, 3, 32, 32))
    assert feats.shape == (2, 2048) and torch.all(feats >= 0)

    tv = {k: v for k, v in state.items() if not k.startswith("fc.")}
    tv |= {"fc.weight": torch.zeros(1000, 2048), "AuxLogits.fc.weight": torch.zeros(1000, 768)}
    tv_path = tmp_path / "inception_v3_google.safetensors"
    save_file(tv, str(tv_path))
    assert "not the FID network" in inception_extractor(tv_path).description


class _PoolNet(torch.nn.Module):
    """A stand-in 'Inception': returns the input size as a check and the per-channel means."""

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        size = torch.full((x.shape[0], 1), float(x.shape[-1]))
        return [x, torch.cat([size, x.mean(dim=(2, 3))], dim=1)[:, :, None, None]]


def _check_inception(extractor) -> None:
    images = torch.rand(3, 1, 32, 32)
    feats = extractor(images)
    assert feats.shape == (3, 4)  # the last output, flattened
    assert torch.all(feats[:, 0] == 299)
    assert torch.allclose(feats[:, 1], images.mean(dim=(1, 2, 3)), atol=2e-3)


def test_inception_runs_a_local_torchscript_file_at_299(tmp_path, monkeypatch):
    path = tmp_path / "inception.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(_PoolNet()).save(str(path))
    monkeypatch.setenv(INCEPTION_ENV, str(path))
    _check_inception(get_extractor("inception"))


def test_inception_runs_a_torch_export_archive(tmp_path):
    path = tmp_path / "inception.pt2"
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(_PoolNet(), (torch.rand(2, 3, 299, 299),), dynamic_shapes={"x": {0: batch}})
    torch.export.save(program, str(path))
    _check_inception(get_extractor("inception", inception_weights=path))


def test_heldout_scores_count_rare_attributes_fairly():
    labels = torch.tensor([[1, 0], [0, 0], [0, 0], [0, 1]])
    never = torch.zeros(4, 2)  # predicts nothing: 75% "accurate", but finds nothing
    scores = heldout_scores(never, labels)
    assert scores["mean_accuracy"] == pytest.approx(0.75)
    assert scores["macro_f1"] == 0.0
    assert scores["balanced_accuracy"] == pytest.approx(0.5)
    perfect = heldout_scores(labels.float(), labels)
    assert perfect == {"mean_accuracy": 1.0, "exact_match": 1.0, "macro_f1": 1.0, "balanced_accuracy": 1.0}


def test_punks_classifier_is_trained_once_cached_and_reports_accuracy(monkeypatch):
    model, info = load_punks_classifier(TINY_PUNKS)
    assert info["n_train"] + info["n_heldout"] == 600
    assert 0.5 < info["mean_accuracy"] <= 1.0 and 0.0 <= info["macro_f1"] <= 1.0
    assert len(info["attributes"]) == 92 and len(info["data_fingerprint"]) == 16

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cache")

    monkeypatch.setattr(punks_module, "train_punks_classifier", no_training)
    again, info_again = load_punks_classifier(TINY_PUNKS)
    assert info_again["mean_accuracy"] == info["mean_accuracy"]
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, again.state_dict()[name])


def test_punks_extractor_gives_features_and_attribute_probabilities():
    extractor = punks_extractor(config=TINY_PUNKS)
    images = torch.rand(6, 3, 32, 32)
    assert extractor(images).shape == (6, 32)
    probs = extractor.attributes_from_features(extractor(images))
    assert probs.shape == (6, 92) and 0 <= probs.min() and probs.max() <= 1
    model, _ = load_punks_classifier(TINY_PUNKS)
    with torch.inference_mode():
        direct = torch.sigmoid(model(resize(images, 24, 3)))
    assert torch.allclose(probs, direct, atol=1e-5)
    assert "held-out mean attribute accuracy" in extractor.description
    # features are scaled to unit root-mean-square on real punks, as KID's kernel expects
    from genlab.images.punks import load_punks

    real = torch.from_numpy(load_punks().rgb()[:300]).permute(0, 3, 1, 2)
    rms = extractor(real).pow(2).mean().sqrt()
    assert 0.7 < rms < 1.4
    assert extractor.attributes[:2] == extractor.info["attributes"][:2]


@pytest.mark.parametrize("size", [25, 32, 48, 64])
def test_punks_enlarged_by_the_loader_are_read_at_their_own_pixels(size):
    from genlab.images.data import load_images
    from genlab.images.punks import load_punks

    native = torch.from_numpy(load_punks().rgb()[:50]).permute(0, 3, 1, 2)
    enlarged = as_image_batch(
        torch.from_numpy(load_images("punks", size=size).images[:50]).permute(0, 3, 1, 2)
    )
    assert torch.equal(punks_at_native_size(enlarged), native.float() / 255)  # exactly the source pixels
    small = torch.rand(2, 3, 16, 16)
    assert punks_at_native_size(small) is small  # smaller than the punks: left to the resize

    extractor = punks_extractor(config=TINY_PUNKS)
    model, _ = load_punks_classifier(TINY_PUNKS)
    with torch.inference_mode():
        at_native = torch.sigmoid(model(native.float() / 255))
        blurred = torch.sigmoid(model(resize(enlarged, 24, 3)))
    read = extractor.read(enlarged)
    assert torch.allclose(read, at_native, atol=1e-5)
    if size % 24:  # an uneven enlargement: the antialiased resize gives other pixels, so other readings
        assert not torch.allclose(read, blurred, atol=1e-3)
    # the FID features keep the antialiased resize
    assert torch.allclose(extractor(enlarged), extractor(resize(enlarged, 24, 3)), atol=1e-6)


def test_type_and_accessory_scores_read_types_by_the_likeliest_and_count_worn_accessories():
    names = ["alien", "ape", "zombie", "female", "male", "cap", "mole", "rare"]
    labels = torch.zeros(10, 8)
    labels[:6, 4] = 1  # six males
    labels[6:, 2] = 1  # four zombies
    labels[:5, 5] = 1  # five caps
    labels[5:, 6] = 1  # five moles
    probs = labels.clone()
    probs[6, 2], probs[6, 4] = 0.4, 0.3  # a zombie read with low confidence: still its likeliest type
    probs[7, 2], probs[7, 1] = 0.2, 0.6  # a zombie read as an ape
    probs[0, 5] = 0.1  # one cap missed
    scores = type_and_accessory_scores(probs, labels, names, min_frequency=0.2)
    assert scores["type_read_back"] == {"zombie": 0.75, "male": 1.0}  # types nobody has are left out
    assert scores["accessory_read_back_mean"] == pytest.approx((4 / 5 + 1) / 2)
    assert scores["accessories_at_90"] == 1 and scores["accessories_counted"] == 2  # "rare" under 20%


def test_the_punks_reader_is_trained_from_the_classifier_cached_and_reads_for_the_extractor(monkeypatch):
    reader_config = PunksReaderConfig(base=TINY_PUNKS)  # as `with_reader` trains it
    model, info = load_punks_reader(reader_config)
    base, _ = load_punks_classifier(TINY_PUNKS)
    assert any(not torch.equal(v, base.state_dict()[k]) for k, v in model.state_dict().items())
    assert info["n_train"] + info["n_heldout"] == 600 and 0.5 < info["mean_accuracy"] <= 1.0
    assert set(info["type_read_back"]) <= {"male", "female", "zombie", "ape", "alien"}
    assert {"mean_accuracy", "type_read_back"} <= set(info["base"])

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cache")

    monkeypatch.setattr(punks_module, "train_punks_reader", no_training)
    again, _ = load_punks_reader(reader_config)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())

    plain = punks_extractor(config=TINY_PUNKS)
    extractor = punks_extractor(config=TINY_PUNKS, with_reader=True)
    assert "punks reader" in extractor.description and "reader" in extractor.info
    images = torch.rand(5, 3, 32, 32)
    assert torch.equal(extractor(images), plain(images))  # the same feature space
    native = punks_at_native_size(images)
    with torch.inference_mode():
        by_reader, by_base = torch.sigmoid(model(native)), torch.sigmoid(base(native))
    assert torch.allclose(extractor.read(images, extractor(images)), by_reader, atol=1e-5)
    assert torch.allclose(plain.read(images), by_base, atol=1e-5)


def test_digits_use_the_glyph_classifier():
    extractor = digits_extractor(epochs=1, max_train=300)
    feats = extractor(torch.rand(4, 1, 32, 32))
    assert feats.ndim == 2 and len(feats) == 4
    assert extractor.name == "digits" and not extractor.weak
    assert "held-out writers" in extractor.description
