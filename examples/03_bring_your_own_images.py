# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Bring your own images
#
# genlab trains on any folder of images: PNG, JPEG, BMP, GIF or WebP, found recursively,
# centre-cropped to squares and resized to the size you pick. This notebook makes a small
# folder of pictures (swap in your own), trains a GAN on it and samples new images.

# %% [markdown]
# ## Install

# %%
# %pip install "genlab[notebooks]"

# %%
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from genlab.images.config import ImageTrainConfig
from genlab.images.data import load_images
from genlab.images.figures import sample_grid
from genlab.images.runs import generate
from genlab.images.train import train_images

# GENLAB_EXAMPLE_TINY=1: a few steps of a tiny model, so the test suite can run the whole notebook
TINY = os.environ.get("GENLAB_EXAMPLE_TINY") == "1"
FOLDER = Path("runs/examples/my-images")
RUN = Path("runs/examples/my-gan")


def show(path):
    """The picture inline in a notebook; its path when this runs as a script."""
    try:
        from IPython import get_ipython
        from IPython.display import Image as Picture
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Picture(filename=str(path)))
    else:
        print("figure:", path)


# %% [markdown]
# ## A folder of images
#
# Here: suns of random colours and sizes over a horizon, drawn with Pillow. Point `FOLDER` at
# your own pictures instead; a few hundred are enough for a first GAN.


# %%
def draw_scene(rng: np.random.Generator, size: int = 64) -> Image.Image:
    sky, ground, sun = (tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(3))
    picture = Image.new("RGB", (size, size), sky)
    draw = ImageDraw.Draw(picture)
    horizon = int(rng.integers(size // 2, size - 8))
    draw.rectangle([0, horizon, size, size], fill=ground)
    r, x, y = int(rng.integers(5, 14)), int(rng.integers(12, size - 12)), int(rng.integers(10, horizon))
    draw.ellipse([x - r, y - r, x + r, y + r], fill=sun)
    return picture


rng = np.random.default_rng(0)
FOLDER.mkdir(parents=True, exist_ok=True)
for i in range(64 if TINY else 600):
    draw_scene(rng).save(FOLDER / f"scene_{i:04d}.png")
data = load_images(str(FOLDER), size=32, channels=3)
print(f"{len(data.images)} images from {data.source}")

# %% [markdown]
# ## Train a GAN
#
# A generator learns to draw images that a discriminator cannot tell from the folder's. The
# `data` option takes the folder's path; `augment` flips training images left-right by default
# for your own data. About a minute on a laptop CPU for these 600 images.

# %%
config = ImageTrainConfig(
    model="gan",
    data=str(FOLDER),
    size=16 if TINY else 32,
    epochs=1 if TINY else 30,
    base_width=8 if TINY else None,
    max_steps=4 if TINY else None,
    batch_size=16 if TINY else 64,
)
run = train_images(config, RUN, resume=(RUN / "config.json").exists())
show(RUN / "figures" / "losses.png")

# %% [markdown]
# ## Sample
#
# The GAN samples from a moving average of its generator, which is smoother than the live one.
# The same seed gives the same images.

# %%
images = generate(RUN, n=16, seed=0)  # float (16, 3, H, W) in [0, 1]
show(sample_grid(RUN, n=64, seed=0))

# %% [markdown]
# ## Next
#
# - The same from a shell: `genlab images train --model gan --data path/to/folder --out runs/mine`.
# - `genlab images progress runs/mine` shows the samples after the first, middle and last epoch.
# - `genlab images export runs/mine --format onnx` writes the generator for onnxruntime.
