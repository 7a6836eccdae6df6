"""`genlab images ...`: convolutional autoencoder, VAE and GAN on any image dataset."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Train CAE/VAE/GAN image models; sample, reconstruct, interpolate, map and evaluate them.",
    no_args_is_help=True,
)
