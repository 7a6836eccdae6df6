"""An image run on the page: a grid of samples for a seed, a walk between two seeds, (CAE, VAE,
diffusion) an uploaded image's reconstruction with its nearest held-out images in the latent space,
and (diffusion) one sample drawn step by step from pure noise.

A run says what it offers in `actions` (and so in its summary's "features"); the page builds one
panel per feature. A conditional run adds its condition (kind and names) to the summary, and its
`sample` takes `ask=` (a label, or a comma list of attributes) and, for diffusion, `guidance=`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from genlab.core.errors import GenlabError
from genlab.core.grid import make_grid
from genlab.core.rundir import RunDir
from genlab.images.diffusion import time_grid
from genlab.images.runs import (
    KINDS,
    conditions_of,
    decode_latents,
    encode,
    generate,
    heldout_images,
    latent_noise,
    lerp,
    load_trained,
    slerp,
    to_float,
    unasked_conditions,
)
from genlab.serve.payload import MAX_SEED, MAX_UPLOAD_BYTES, HTTPError, Request, open_upload, png_data_url

MAX_SAMPLES = 64
MAX_NEIGHBOURS = 16
MAX_DENOISE_STEPS = 50
MODES = ("slerp", "linear")
PIXEL_ART_SIDE = 32  # uploads this small are resized with nearest-neighbour, as training resizes sprites


class ServedImageRun:
    """A trained CAE, VAE, GAN or diffusion model, loaded once; every action holds `lock` while the
    model runs."""

    product = "images"

    def __init__(self, name: str, path: Path | str) -> None:
        self.name = name
        self.run = RunDir.open(path, KINDS)
        self.model, self.cfg = load_trained(self.run)
        self.lock = threading.Lock()
        self.space = conditions_of(self.cfg)  # None for an unconditional run
        self._heldout: tuple[np.ndarray, torch.Tensor, str] | None = None  # loaded on first use
        self.actions = {"sample": ("GET", self.sample), "interpolate": ("GET", self.interpolate)}
        if self.cfg.model != "gan":  # a GAN has no encoder
            self.actions["reconstruct"] = ("POST", self.reconstruct)
        if self.cfg.model == "diffusion":
            self.actions["denoise"] = ("GET", self.denoise)

    def summary(self) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "name": self.name,
            "product": self.product,
            "kind": self.run.kind,
            "model": cfg.model,
            "data": Path(cfg.data).name,
            "size": cfg.size,
            "channels": cfg.channels,
            "latent_dim": cfg.latent_dim,
            "features": list(self.actions),
            **({"condition": self.space.to_dict(), "guidance": cfg.guidance} if self.space else {}),
            **(
                {"sampler": cfg.sampler, "sample_steps": cfg.sample_steps} if cfg.model == "diffusion" else {}
            ),
            "modes": list(MODES),
            "limits": {
                "n": MAX_SAMPLES,
                "steps": MAX_DENOISE_STEPS,
                "seed": MAX_SEED,
                "k": MAX_NEIGHBOURS,
                "upload_bytes": MAX_UPLOAD_BYTES,
            },
        }

    # -- actions: Request -> JSON-able dict -------------------------------------------------

    def sample(self, request: Request) -> dict[str, Any]:
        """?n=&seed=: a grid of n novel images; the same seed gives the same grid."""
        n = request.int("n", 16, 1, MAX_SAMPLES)
        seed = request.int("seed", 0, 0, MAX_SEED)
        asked, conditions, guidance = None, None, None
        if request.params.get("ask", "").strip():
            if self.space is None:
                raise HTTPError(400, "this model was trained without --condition: it cannot be asked")
            try:
                vector = self.space.request(request.text("ask", "what to ask for"))
            except GenlabError as exc:
                raise HTTPError(400, str(exc)) from None
            asked, conditions = self.space.describe(vector), np.repeat(vector[None], n, axis=0)
            if self.cfg.model == "diffusion":
                guidance = request.float("guidance", self.cfg.guidance, 0.0, 10.0)
        with self.lock, torch.inference_mode():
            images = generate(self.model, n, seed, conditions=conditions, guidance=guidance)  # (n, C, H, W)
        return {"n": n, "seed": seed, "asked": asked, "image": png_data_url(make_grid(images.numpy()))}

    def interpolate(self, request: Request) -> dict[str, Any]:
        """?a=&b=&t=&mode=: the image a fraction t of the way from seed a's latent point to seed b's."""
        a = request.int("a", 0, 0, MAX_SEED)
        b = request.int("b", 1, 0, MAX_SEED)
        t = request.float("t", 0.5, 0.0, 1.0)
        mode = request.choice("mode", "slerp", MODES)
        dim = self.cfg.latent_dim
        # as `genlab images interpolate` does: walk between standard-normal draws, then map the
        # path into the model's latent space
        eps_a, eps_b = latent_noise(1, dim, a), latent_noise(1, dim, b)  # (1, latent)
        walk = (slerp if mode == "slerp" else lerp)(eps_a, eps_b, torch.tensor([0.0, t, 1.0]))[
            0
        ]  # (3, latent)
        with self.lock, torch.inference_mode():
            unasked = unasked_conditions(self.model, 1, a)  # seed a's, for the whole walk
            conditions = None if unasked is None else unasked.repeat(3, 1)
            start, middle, end = decode_latents(
                self.model, self.model.prior_sample(walk), conditions=conditions
            ).numpy()
        return {
            "a": a,
            "b": b,
            "t": t,
            "mode": mode,
            "start": png_data_url(start),
            "image": png_data_url(middle),
            "end": png_data_url(end),
        }

    def denoise(self, request: Request) -> dict[str, Any]:
        """?seed=&steps=: one sample from pure noise to image: the state x_t after every sampler step
        and the denoiser's guess of the finished image there (the first sample of `sample?seed=`)."""
        seed = request.int("seed", 0, 0, MAX_SEED)
        steps = request.int("steps", self.cfg.sample_steps, 1, MAX_DENOISE_STEPS)
        with self.lock, torch.inference_mode():
            noise = latent_noise(1, self.cfg.latent_dim, seed)
            generator = torch.Generator().manual_seed(seed)
            states, guesses = self.model.trajectory(noise, steps, generator=generator)
        times = time_grid(steps).tolist()
        return {
            "seed": seed,
            "steps": steps,
            "sampler": self.cfg.sampler,
            "frames": [
                {
                    "t": t,
                    "state": png_data_url(states[i, 0].numpy()),
                    "guess": png_data_url((guesses[i] if i < steps else states[-1])[0].numpy()),
                }
                for i, t in enumerate(times)
            ],
        }

    def reconstruct(self, request: Request) -> dict[str, Any]:
        """POST an image: it as the model sees it, its reconstruction, and its k nearest held-out images."""
        k = request.int("k", 8, 0, MAX_NEIGHBOURS)
        image = fit_square(open_upload(request.body), self.cfg.size, self.cfg.channels)  # (S, S, C) uint8
        with self.lock, torch.inference_mode():
            code = encode(self.model, image[None])  # (1, latent): CAE code / VAE posterior mean
            recon = decode_latents(self.model, code)  # (1, C, S, S)
            pool, codes, note = self._heldout_codes()
        original = to_float(image[None])
        result: dict[str, Any] = {
            "original": png_data_url(image),
            "reconstruction": png_data_url(recon[0].numpy()),
            "mse": float((original - recon).pow(2).mean()),
            "neighbours": [],
            "neighbours_from": note,
        }
        if len(pool) and k:
            distances = (codes - code).norm(dim=1)  # Euclidean, in the latent space
            nearest = distances.argsort()[:k]
            result["neighbours"] = [
                {"image": png_data_url(pool[i]), "distance": float(distances[i]), "index": int(i)}
                for i in nearest.tolist()
            ]
        return result

    def _heldout_codes(self) -> tuple[np.ndarray, torch.Tensor, str]:
        """The run's held-out images, their codes, and a note saying what they are (call under lock)."""
        if self._heldout is None:
            try:
                pool = heldout_images(self.run)
                note = f"the run's {len(pool)} held-out images (never trained on)"
            except GenlabError as exc:  # no held-out split, or its data has moved: reconstruct still works
                pool, note = (
                    np.zeros((0, self.cfg.size, self.cfg.size, self.cfg.channels), np.uint8),
                    str(exc),
                )
            codes = encode(self.model, pool) if len(pool) else torch.zeros(0, self.cfg.latent_dim)
            self._heldout = (pool, codes, note)
        return self._heldout


def fit_square(picture: Image.Image, size: int, channels: int) -> np.ndarray:
    """An uploaded picture as training sees its images: transparency on white, the centre square,
    `size` x `size`, 1 or 3 channels -> uint8 (size, size, channels)."""
    if picture.mode in ("RGBA", "LA", "PA", "P") or "transparency" in picture.info:
        rgba = picture.convert("RGBA")
        picture = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    picture = picture.convert("L" if channels == 1 else "RGB")
    side = min(picture.size)
    left, top = (picture.width - side) // 2, (picture.height - side) // 2
    square = picture.crop((left, top, left + side, top + side))
    resample = Image.NEAREST if side <= PIXEL_ART_SIDE else Image.LANCZOS
    array = np.array(square.resize((size, size), resample))  # writable, for torch
    return array[..., None] if array.ndim == 2 else array
