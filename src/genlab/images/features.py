"""Feature spaces for FID/KID/precision/recall, behind one small interface.

    extractor = get_extractor("punks")        # or "digits", "inception", "pixels"
    feats = extractor(images)                 # float (N, C, H, W) in [0, 1], any size -> (N, D)

Each extractor resizes and converts channels itself (24x24 RGB for punks, 28x28 grey for digits,
299x299 RGB for Inception). The trained classifiers' features are divided by their root-mean-square
on real data (a fixed number per extractor), so each dimension is of order 1, as KID's polynomial
kernel (a.b / D + 1)^3 assumes and as Inception's are. Each extractor says what it is: `name`,
`description`, `weak` (True for raw pixels) and `info` (for trained extractors, the held-out
accuracy that every metric computed in its space is reported with). Nothing is ever downloaded:
Inception needs local weights.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from genlab.arith.glyphs import load_glyph_classifier
from genlab.core.errors import GenlabError
from genlab.core.mnist import load_mnist
from genlab.core.progress import progress
from genlab.images.data import pixel_art_source_index
from genlab.images.inception import InceptionV3Features, is_fid_state_dict
from genlab.images.punks_classifier import IMAGE_SIZE as PUNKS_SIZE
from genlab.images.punks_classifier import (
    PunksReaderConfig,
    PunksTrainConfig,
    load_punks_classifier,
    load_punks_reader,
)

FEATURE_SPACES = ("punks", "digits", "inception", "pixels")
INCEPTION_ENV = "GENLAB_INCEPTION"
PIXELS_SIZE = 12
_LUMA = (0.299, 0.587, 0.114)


def as_image_batch(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Float (N, C, H, W) in [0, 1] with C = 1 or 3; uint8 arrays/tensors are scaled from 0..255."""
    batch = torch.as_tensor(images) if isinstance(images, np.ndarray) else images
    if batch.dtype == torch.uint8:
        batch = batch.float() / 255
    if batch.ndim != 4 or batch.shape[1] not in (1, 3):
        raise ValueError(f"expected images (N, C, H, W) with 1 or 3 channels, got {tuple(batch.shape)}")
    batch = batch.float()
    if len(batch) and (batch.min() < -1e-3 or batch.max() > 1 + 1e-3):
        raise ValueError(f"expected images in [0, 1], got values in [{batch.min():.3g}, {batch.max():.3g}]")
    return batch


def resize(images: torch.Tensor, size: int, channels: int | None) -> torch.Tensor:
    """Convert to `channels` (grey <-> RGB; None keeps them) and resize to size x size (antialiased)."""
    if channels is not None and images.shape[1] != channels:
        if channels == 3:
            images = images.expand(-1, 3, -1, -1)
        else:
            weights = torch.tensor(_LUMA, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
            images = (images * weights).sum(dim=1, keepdim=True)
    if images.shape[-2:] != (size, size):
        images = F.interpolate(
            images, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
    return images.clamp(0, 1)


@dataclass
class FeatureExtractor:
    """A named feature space: call it on images (N, C, H, W) in [0, 1] to get features (N, D).

    `embed` maps a batch already resized to `size` x `size` with `channels` channels to (B, D);
    `classify`, where there is one, maps those features (B, D) to attribute probabilities (B, A),
    so one pass over the images gives both.
    """

    name: str
    description: str
    size: int
    channels: int | None  # None: keep the input's channels
    embed: Callable[[torch.Tensor], torch.Tensor]
    weak: bool = False
    info: dict[str, Any] = field(default_factory=dict)
    classify: Callable[[torch.Tensor], torch.Tensor] | None = None
    attributes: list[str] | None = None
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    # what `read` does to a batch before the usual resize (None: nothing)
    prepare_for_reading: Callable[[torch.Tensor], torch.Tensor] | None = None
    # a classifier of its own that `read` uses, images prepared and resized -> probabilities (B, A)
    reader: Callable[[torch.Tensor], torch.Tensor] | None = None

    def _batched(
        self,
        fn: Callable[[torch.Tensor], torch.Tensor],
        images: torch.Tensor,
        batch_size: int,
        desc: str,
        prepare: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        images = as_image_batch(images)
        out = []
        with torch.inference_mode():
            for chunk in progress(images.split(batch_size), desc=desc, total=-(-len(images) // batch_size)):
                chunk = chunk.to(self.device)
                prepared = resize(prepare(chunk) if prepare else chunk, self.size, self.channels)
                out.append(fn(prepared).flatten(1).float().cpu())  # (B, D)
        return torch.cat(out) if out else torch.empty(0, 0)

    def __call__(self, images: torch.Tensor | np.ndarray, batch_size: int = 500) -> torch.Tensor:
        return self._batched(self.embed, images, batch_size, f"{self.name} features")

    def read(
        self, images: torch.Tensor | np.ndarray, features: torch.Tensor | None = None, batch_size: int = 500
    ) -> torch.Tensor:
        """Attribute probabilities (N, A) of images: what the classifier (or the `reader`, where there
        is one) reads in them, from the images prepared for reading (`prepare_for_reading`), which the
        features for FID are not. `features`, this extractor's of the same images, are read directly
        where nothing is prepared and there is no reader of its own."""
        if self.classify is None:
            raise GenlabError(f"the {self.name} feature space has no attribute classifier")
        if features is not None and self.prepare_for_reading is None and self.reader is None:
            return self.attributes_from_features(features)
        classify = self.classify

        def probabilities(x: torch.Tensor) -> torch.Tensor:
            return classify(self.embed(x).flatten(1))

        prepare = self.prepare_for_reading
        read = self.reader or probabilities
        return self._batched(read, images, batch_size, f"reading {self.name}", prepare)

    def attributes_from_features(self, features: torch.Tensor) -> torch.Tensor:
        """Attribute probabilities (N, A) from features (N, D) this extractor produced."""
        if self.classify is None:
            raise GenlabError(f"the {self.name} feature space has no attribute classifier")
        with torch.inference_mode():
            return self.classify(features.to(self.device)).float().cpu()

    def label(self) -> str:
        """One line for tables and figures: the space, and how far to trust it."""
        return f"{self.name} features: {self.description}" + (" (WEAK: raw pixels)" if self.weak else "")


# -- the four spaces -------------------------------------------------------------------------------


def pixels_extractor(size: int = PIXELS_SIZE) -> FeatureExtractor:
    """Raw pixels downsampled to size x size, channels kept: for tests and as a last resort (weak)."""
    return FeatureExtractor(
        name="pixels",
        description=f"raw pixels downsampled to {size}x{size}",
        size=size,
        channels=None,
        embed=lambda x: x.flatten(1),
        weak=True,
    )


def punks_extractor(
    device: str | torch.device = "cpu", config: PunksTrainConfig | None = None, with_reader: bool = False
) -> FeatureExtractor:
    """The CryptoPunks attribute classifier genlab trains once and caches; its penultimate layer.

    `with_reader`: `read` asks the punks reader (trained further from this classifier, for reading
    conditional models' draws back), not the classifier itself; features and FID stay the same."""

    model, info = load_punks_classifier(config)
    model = model.to(device).eval()
    scale = 1.0 / max(info["feature_rms"], 1e-12)
    description = (
        f"CryptoPunks attribute classifier trained by genlab (held-out mean attribute accuracy "
        f"{info['mean_accuracy']:.4f}, macro F1 {info['macro_f1']:.3f})"
    )
    reader = None
    if with_reader:
        reader_model, reader_info = load_punks_reader(PunksReaderConfig(base=config or PunksTrainConfig()))
        reader_model = reader_model.to(device).eval()
        description += (
            "; read by the punks reader (held-out mean attribute accuracy "
            f"{reader_info['mean_accuracy']:.4f}, accessories worn read in "
            f"{reader_info['accessory_read_back_mean']:.1%})"
        )
        info = {**info, "reader": {k: v for k, v in reader_info.items() if k != "attributes"}}

        def reader(x: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(reader_model(x))

    return FeatureExtractor(
        name="punks",
        description=description,
        size=PUNKS_SIZE,
        channels=3,
        embed=lambda x: model.features(x) * scale,
        info=info,
        classify=lambda feats: torch.sigmoid(model.head(feats / scale)),
        attributes=list(info["attributes"]),
        device=torch.device(device),
        prepare_for_reading=punks_at_native_size,
        reader=reader,
    )


def punks_at_native_size(images: torch.Tensor) -> torch.Tensor:
    """Punks that genlab enlarged from their 24x24 (`--size` above 24, nearest) back at 24x24, one
    pixel from each copied block: the pixel art the classifier learnt, where the antialiased
    resize blurs a 32x32 punk's uneven blocks, so that even real punks' attributes are read back
    far less often. Smaller images are left to the usual resize."""
    if images.shape[-1] <= PUNKS_SIZE:
        return images
    index = torch.from_numpy(pixel_art_source_index(images.shape[-1], PUNKS_SIZE)).to(images.device)
    return images.index_select(-1, index).index_select(-2, index)


def digits_extractor(
    device: str | torch.device = "cpu", mnist_source: str = "auto", **glyph_options: Any
) -> FeatureExtractor:
    """The MNIST glyph classifier of the arithmetic models; its penultimate layer.

    `glyph_options` go to `load_glyph_classifier` (e.g. epochs, max_train for a tiny one in tests).
    """
    model, info = load_glyph_classifier(mnist_source=mnist_source, **glyph_options)
    model = model.to(device).eval()
    digits = torch.from_numpy(load_mnist(mnist_source).images[:2000]).float().div(255)[:, None]
    with torch.inference_mode():
        feature_rms = float(model.features(digits.to(device)).pow(2).mean().sqrt())
    scale = 1.0 / max(feature_rms, 1e-12)
    info = {**info, "feature_rms": feature_rms}
    accuracy = info.get("digit_test_accuracy", info.get("test_accuracy"))
    described = f" (accuracy {accuracy:.4f} on held-out writers)" if isinstance(accuracy, float) else ""
    classes = str(info.get("classes", "0123456789"))
    digits = [classes.index(str(d)) for d in range(10)]

    def classify(feats: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model.head(feats / scale)[:, digits], dim=1)  # (N, 10) digit probabilities

    return FeatureExtractor(
        name="digits",
        description=f"MNIST digit classifier trained by genlab{described}",
        size=28,
        channels=1,
        embed=lambda x: model.features(x) * scale,
        info=info,
        classify=classify,
        attributes=[str(d) for d in range(10)],
        device=torch.device(device),
    )


def inception_extractor(
    weights: str | Path | None = None, device: str | torch.device = "cpu"
) -> FeatureExtractor:
    """Inception-v3 pool features from a local file (never downloaded).

    The file is either an Inception-v3 state dict (.pth/.pt/.safetensors: the FID weights of
    pytorch-fid, `pt_inception-2015-12-05-6726825d.pth`, or torchvision's ImageNet weights), loaded
    into genlab's own Inception (genlab.images.inception), or a whole network mapping float
    (N, 3, 299, 299) in [0, 1] to features (N, D) or (N, D, 1, 1) (if it returns a list or tuple,
    the last element is used), saved with `torch.export.save` (.pt2, dynamic batch dimension) or
    as TorchScript.
    """
    path_text = str(weights) if weights else os.environ.get(INCEPTION_ENV, "")
    if not path_text:
        raise GenlabError(
            "--features inception needs Inception-v3 weights on disk, and genlab never downloads them: "
            "pass --inception-weights PATH (e.g. pytorch-fid's pt_inception-2015-12-05-6726825d.pth) or set "
            f"${INCEPTION_ENV}; or use --features punks|digits|pixels"
        )
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise GenlabError(
            f"Inception weights {path} do not exist: check --inception-weights or ${INCEPTION_ENV}"
        )
    module, kind = _load_network(path, device)

    def embed(x: torch.Tensor) -> torch.Tensor:
        out = module(x)
        if isinstance(out, list | tuple):
            out = out[-1]
        return out

    return FeatureExtractor(
        name="inception",
        description=f"Inception-v3 pool features from {path.name} ({kind})",
        size=299,
        channels=3,
        embed=embed,
        info={"weights": str(path)},
        device=torch.device(device),
    )


def _load_network(path: Path, device: str | torch.device) -> tuple[Callable[[torch.Tensor], Any], str]:
    """A torch.export archive, a TorchScript file or an Inception-v3 state dict, as a callable
    network and a description of what it is."""

    if path.suffix == ".pt2":
        try:
            return torch.export.load(str(path)).module().to(device), "a torch.export archive"
        except Exception as exc:
            raise GenlabError(f"cannot load {path} as a torch.export archive ({exc})") from None
    if _is_torchscript(path):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated, still works
                return torch.jit.load(str(path), map_location=device).eval(), "TorchScript"
        except Exception as exc:
            raise GenlabError(f"cannot load {path} as a TorchScript module ({exc})") from None
    return _inception_from_state_dict(path, device)


def _inception_from_state_dict(path: Path, device: str | torch.device) -> tuple[torch.nn.Module, str]:
    """genlab's own Inception-v3 with weights from a state dict (.safetensors, or .pth/.pt read with
    weights_only=True, which runs no code): the FID weights of pytorch-fid or torchvision's."""

    hint = (
        "give the FID Inception weights (pt_inception-2015-12-05-6726825d.pth from pytorch-fid) or "
        "torchvision's inception_v3 weights as a .pth/.safetensors state dict, or a .pt2/TorchScript network"
    )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise GenlabError(f"cannot read {path} as weights ({type(exc).__name__}): {hint}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise GenlabError(f"{path} does not hold a state dict of tensors: {hint}")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    fid_variant = is_fid_state_dict(state)
    model = InceptionV3Features(fid_variant=fid_variant)
    wanted = {k: v for k, v in state.items() if not k.startswith(("fc.", "AuxLogits."))}
    try:
        result = model.load_state_dict(wanted, strict=False)
    except RuntimeError as exc:
        raise GenlabError(
            f"{path} is not an Inception-v3 state dict ({str(exc).splitlines()[0]}): {hint}"
        ) from None
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        odd = (missing + result.unexpected_keys)[:3]
        raise GenlabError(
            f"{path} is not an Inception-v3 state dict (keys such as {odd} do not match): {hint}"
        )
    kind = "FID weights" if fid_variant else "torchvision ImageNet weights; not the FID network"
    return model.to(device).eval(), kind


def _is_torchscript(path: Path) -> bool:
    """TorchScript files are zip archives holding a `code/` folder; state dicts are not."""

    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name or name.startswith("code/") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def get_extractor(
    name: str,
    device: str | torch.device = "cpu",
    inception_weights: str | Path | None = None,
    mnist_source: str = "auto",
) -> FeatureExtractor:
    """The feature space called `name` (one of FEATURE_SPACES)."""
    if name == "pixels":
        return pixels_extractor()
    if name == "punks":
        return punks_extractor(device)
    if name == "digits":
        return digits_extractor(device, mnist_source)
    if name == "inception":
        return inception_extractor(inception_weights, device)
    raise GenlabError(f"unknown feature space {name!r}: use one of {', '.join(FEATURE_SPACES)}")
