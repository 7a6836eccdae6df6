"""Convolutional autoencoder (CAE) and variational autoencoder (VAE) built from `conv_net`/`deconv_net`.

Both decoders return *logits*; `torch.sigmoid(logits)` is the image in [0, 1]. That lets the
Bernoulli likelihood / BCE loss use the numerically stable `binary_cross_entropy_with_logits`.

Conditional models (`cond_dim` > 0, see genlab.images.conditions) take a condition vector c (N, K)
beside the image: the encoder reads it beside its conv features, the decoder beside the latent code
(a conditional VAE, Sohn et al. 2015). c = None is the all-zero "no condition".

Loss scale (a frequent source of confusion): the CAE reports the reconstruction error as a mean per
pixel (so its MSE is comparable across image sizes). The VAE loss is the negative ELBO per image:
reconstruction *summed* over pixels and channels, plus beta * KL summed over latent dimensions,
both averaged over the batch. With a mean-per-pixel reconstruction the KL term would silently weigh
H*W*C times more, which is the usual reason for "my VAE only makes the average face".
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from genlab.images.conv import conv_net, deconv_net, top_width, with_condition


def _decoder(
    size: int, channels: int, latent_dim: int, base_width: int, max_width: int, norm: str, cond_dim: int = 0
) -> nn.Module:
    top = top_width(size, base_width, max_width)
    head = nn.BatchNorm2d(top) if norm == "batch" else nn.Identity()
    return nn.Sequential(
        nn.Linear(latent_dim + cond_dim, top * 16),
        nn.Unflatten(1, (top, 4, 4)),  # (N, top, 4, 4)
        head,
        nn.ReLU(inplace=True),
        deconv_net(size, channels, base_width, max_width, norm=norm, activation="relu"),
        # (N, channels, size, size) logits
    )


def _encoder(
    size: int,
    channels: int,
    out_dim: int,
    base_width: int,
    max_width: int,
    norm: str,
    dropout: float,
    cond_dim: int = 0,
) -> nn.Sequential:
    top = top_width(size, base_width, max_width)
    return nn.Sequential(
        conv_net(size, channels, base_width, max_width, norm=norm, activation="leaky_relu", dropout=dropout),
        nn.Flatten(),  # (N, top * 16)
        nn.Linear(top * 16 + cond_dim, out_dim),  # the condition joins here
    )


class _ConvCoder(nn.Module):
    """What the CAE and the VAE share: a conv encoder to `codes` x latent_dim numbers per image and a
    deconv decoder from latent_dim back to the image (logits)."""

    codes = 1

    def __init__(
        self,
        size: int = 64,
        channels: int = 3,
        latent_dim: int = 64,
        base_width: int = 32,
        max_width: int = 512,
        norm: str = "batch",
        dropout: float = 0.0,
        cond_dim: int = 0,
    ) -> None:
        super().__init__()
        self.size, self.channels, self.latent_dim, self.cond_dim = size, channels, latent_dim, cond_dim
        self.encoder = _encoder(
            size, channels, self.codes * latent_dim, base_width, max_width, norm, dropout, cond_dim
        )
        self.decoder = _decoder(size, channels, latent_dim, base_width, max_width, norm, cond_dim)

    def encoded(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """The encoder's output (N, codes * latent_dim) for images x and conditions c."""
        features = self.encoder[:-1](x)  # (N, top * 16)
        return self.encoder[-1](with_condition(features, c, self.cond_dim))

    def decode(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.decoder(with_condition(z, c, self.cond_dim))  # (N, C, H, W) logits


class ConvAutoencoder(_ConvCoder):
    """x -> z = encoder(x) -> logits = decoder(z).

    The CAE has no prior, so to *sample* from it we fit a Gaussian N(code_mean, L L^T) to the codes
    of the training images (stored as buffers, so it travels with the weights) and decode draws
    from it.
    """

    kind = "cae"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        latent_dim = self.latent_dim
        self.register_buffer("code_mean", torch.zeros(latent_dim))
        self.register_buffer("code_scale_tril", torch.eye(latent_dim))

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoded(x, c)  # (N, latent_dim)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.decode(self.encode(x, c), c)

    @torch.no_grad()
    def fit_code_distribution(self, codes: torch.Tensor) -> None:
        """Fit the sampling Gaussian to training codes (N, latent_dim)."""
        codes = codes.double()
        mean = codes.mean(0)
        cov = torch.cov(codes.T).reshape(self.latent_dim, self.latent_dim)
        cov = cov + 1e-5 * torch.eye(self.latent_dim, dtype=cov.dtype, device=cov.device)
        self.code_mean.copy_(mean.float())
        self.code_scale_tril.copy_(torch.linalg.cholesky(cov).float())

    def prior_sample(self, eps: torch.Tensor) -> torch.Tensor:
        """Map standard-normal draws (N, latent_dim) to the fitted code distribution."""
        return self.code_mean + eps @ self.code_scale_tril.T


def reconstruction_loss(x: torch.Tensor, logits: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """CAE loss, mean per pixel: 'mse' on sigmoid(logits), or 'bce' (pixels as Bernoulli probabilities)."""
    if kind == "mse":
        return F.mse_loss(torch.sigmoid(logits), x)
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(logits, x)
    raise ValueError(f"unknown reconstruction loss {kind!r}")


class VAE(_ConvCoder):
    """Encoder gives q(z|x) = N(mu, diag(exp(logvar))); the prior is N(0, I); the decoder p(x|z)."""

    kind = "vae"

    codes = 2  # the encoder gives mu and logvar

    def encode(self, x: torch.Tensor, c: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoded(x, c).chunk(2, dim=1)  # (N, latent_dim) each
        # a clamp keeps exp(logvar) finite early in training, the usual first NaN in a VAE
        return mu, logvar.clamp(-12.0, 8.0)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        # z = mu + sigma * eps, eps ~ N(0, I): the sample stays differentiable in mu and sigma
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(
        self, x: torch.Tensor, c: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x, c)
        return self.decode(self.reparameterize(mu, logvar), c), mu, logvar

    temperature = 1.0  # scale of the prior draws when sampling; build_model sets the run's --temperature

    def prior_sample(self, eps: torch.Tensor) -> torch.Tensor:
        return eps * self.temperature


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample (N,), summed over latent dimensions."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)


def vae_loss(
    x: torch.Tensor,
    logits: torch.Tensor,
    mu: torch.Tensor,
    logvar: torch.Tensor,
    beta: float = 1.0,
    likelihood: str = "gaussian",
    sigma: float = 0.3,
) -> dict[str, torch.Tensor]:
    """Negative ELBO per image (mean over the batch): {'loss', 'recon', 'kl'}.

    gaussian: -log p(x|z) = sum (x - x_hat)^2 / (2 sigma^2) + const, sigma the pixel noise std
    (smaller sigma = sharper reconstructions, less regular latent space). The constant
    H*W*C*log(sigma*sqrt(2 pi)) does not depend on the model and is left out, so the reported
    loss stays positive (it is the negative ELBO up to that constant).
    bernoulli: -log p(x|z) = sum BCE(logits, x), for images that are mostly near 0 or 1.
    """
    if likelihood == "gaussian":
        sse = (torch.sigmoid(logits) - x).pow(2).flatten(1).sum(1)
        recon = sse / (2 * sigma**2)
    elif likelihood == "bernoulli":
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)
    else:
        raise ValueError(f"unknown likelihood {likelihood!r}")
    kl = kl_divergence(mu, logvar)
    recon, kl = recon.mean(), kl.mean()
    return {"loss": recon + beta * kl, "recon": recon, "kl": kl}
