"""DCGAN generator and discriminator from the shared builders, their losses, and the generator EMA.

The generator draws images in [-1, 1] (tanh); callers map them to [0, 1]. The discriminator gives one
logit per image. `GAN` holds the generator, the discriminator and an exponential moving average of
the generator (used for sampling: it is smoother and sharper than the live weights) in one module,
so one state dict saves and restores all three.

Mode collapse (the generator drawing a few kinds of face well and never the rest) is the usual DCGAN
failure on small data. A discriminator that judges one image at a time cannot see it, so by default
it also gets a minibatch standard-deviation feature (Karras et al., 2018): how much the images of a
small group differ from each other. A generator whose samples all look alike is then easy to catch.

Pixel art that the loader enlarges (punks: 24x24 copied into 32x32 blocks) can be drawn and judged at
its own pixels (`work_size` below `size`): the generator draws 24x24 and enlarges it the way the
loader does, and the discriminator first keeps one pixel of each copied block, so both work on the
picture and not on the enlargement's uneven blocks, at about half the cost.

A conditional GAN (`cond_dim` > 0) gives the generator the condition vector beside its noise, and
judges with a projection discriminator (Miyato & Koyama 2018): the logit is the unconditional head
plus the inner product of the image's features with an embedding of the condition, so the
discriminator asks both "is it real?" and "does it show what was asked?". With `aux_classifier` it
also reads the condition back from the image (an auxiliary classifier head, as in AC-GAN, Odena et
al. 2017): the head learns the conditions of real images, and the generator is pushed to draw
images the head reads as what was asked.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from genlab.images.conv import PixelArtResize, bottom_size, conv_net, deconv_net, top_width, with_condition


class Generator(nn.Module):
    def __init__(
        self,
        size: int = 64,
        channels: int = 3,
        latent_dim: int = 100,
        base_width: int = 64,
        max_width: int = 512,
        cond_dim: int = 0,
        work_size: int | None = None,
    ) -> None:
        super().__init__()
        work = work_size or size
        top, bottom = top_width(work, base_width, max_width), bottom_size(work)
        self.latent_dim, self.cond_dim = latent_dim, cond_dim
        self.net = nn.Sequential(
            nn.Linear(latent_dim + cond_dim, top * bottom**2, bias=False),
            nn.Unflatten(1, (top, bottom, bottom)),  # (N, top, 4, 4), 3x3 at work size 24
            nn.BatchNorm2d(top),
            nn.ReLU(inplace=True),
            deconv_net(work, channels, base_width, max_width, norm="batch", activation="relu"),
            nn.Tanh(),  # (N, channels, work, work) in [-1, 1]
        )
        self.enlarge = PixelArtResize(work, size)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.enlarge(self.net(with_condition(z, c, self.cond_dim)))  # (N, channels, size, size)


class MinibatchStdDev(nn.Module):
    """Appends one channel: the mean over features of the standard deviation within groups of images.

    (N, C, H, W) -> (N, C + 1, H, W). The batch is cut into groups of `group` images (the whole batch
    when it does not divide evenly); every image of a group gets its group's value.
    """

    def __init__(self, group: int = 4) -> None:
        super().__init__()
        self.group = group

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = self.group if n % self.group == 0 else n
        y = x.float().reshape(g, n // g, c, h, w)  # image k of group j at [k, j]
        # the variance written out: torch's var over the outer dimension is several times slower on a CPU
        centred = y - y.mean(dim=0)
        std = (centred.square().mean(dim=0) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (n // g,)
        feature = std.to(x.dtype).repeat(g).reshape(n, 1, 1, 1).expand(n, 1, h, w)
        return torch.cat([x, feature], dim=1)


class Discriminator(nn.Module):
    def __init__(
        self,
        size: int = 64,
        channels: int = 3,
        base_width: int = 64,
        max_width: int = 512,
        norm: str = "batch",
        spectral: bool = False,
        dropout: float = 0.0,
        minibatch_std: int = 0,
        cond_dim: int = 0,
        aux_classifier: bool = False,
        work_size: int | None = None,
    ) -> None:
        super().__init__()
        work = work_size or size
        top = top_width(work, base_width, max_width)
        features = (top + (1 if minibatch_std else 0)) * bottom_size(work) ** 2
        head = nn.Linear(features, 1)
        self.shrink = PixelArtResize(size, work)
        self.net = nn.Sequential(
            conv_net(work, channels, base_width, max_width, norm, "leaky_relu", dropout, spectral),
            MinibatchStdDev(minibatch_std) if minibatch_std else nn.Identity(),
            nn.Flatten(),  # (N, (top [+ 1]) * 4 * 4)
            nn.utils.parametrizations.spectral_norm(head) if spectral else head,
        )
        self.cond_dim = cond_dim
        if cond_dim:
            projection = nn.Linear(cond_dim, features, bias=False)
            self.projection = nn.utils.parametrizations.spectral_norm(projection) if spectral else projection
        if aux_classifier and not cond_dim:
            raise ValueError("an auxiliary classifier reads a condition: it needs cond_dim > 0")
        self.aux = nn.Linear(features, cond_dim) if aux_classifier else None

    def forward(
        self, x: torch.Tensor, c: torch.Tensor | None = None, with_aux: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor | None]:
        """(N,) real-or-fake logits; with `with_aux`, also the auxiliary head's (N, cond_dim)
        condition logits (None without the head). An argument, not a method, so that DDP and
        torch.compile wrappers pass it through."""
        h = self.net[:-1](self.shrink(x))  # (N, features)
        logits = self.net[-1](h).squeeze(1)
        if self.cond_dim and c is not None:
            logits = logits + (self.projection(c.to(h.dtype)) * h).sum(1)
        if not with_aux:
            return logits
        return logits, None if self.aux is None else self.aux(h)


class GAN(nn.Module):
    kind = "gan"

    def __init__(
        self,
        size: int = 64,
        channels: int = 3,
        latent_dim: int = 100,
        base_width: int = 64,
        max_width: int = 512,
        d_norm: str = "batch",
        spectral: bool = False,
        dropout: float = 0.0,
        minibatch_std: int = 0,
        cond_dim: int = 0,
        aux_classifier: bool = False,
        work_size: int | None = None,
    ) -> None:
        super().__init__()
        self.size, self.channels, self.latent_dim, self.cond_dim = size, channels, latent_dim, cond_dim
        self.work_size = work_size or size
        self.generator = Generator(size, channels, latent_dim, base_width, max_width, cond_dim, work_size)
        self.discriminator = Discriminator(
            size, channels, base_width, max_width, d_norm, spectral, dropout, minibatch_std, cond_dim,
            aux_classifier, work_size,
        )  # fmt: skip
        self.generator_ema = copy.deepcopy(self.generator).requires_grad_(False)
        self.apply(dcgan_init)
        self.generator_ema.load_state_dict(self.generator.state_dict())

    temperature = 1.0  # scale of the noise when sampling ("truncation"); build_model sets --temperature

    def prior_sample(self, eps: torch.Tensor) -> torch.Tensor:
        return eps * self.temperature


def dcgan_init(module: nn.Module) -> None:
    """DCGAN paper initialisation: N(0, 0.02) weights, N(1, 0.02) norm scales."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear):
        weight = getattr(module, "parametrizations", None)
        target = module.parametrizations.weight.original if weight is not None else module.weight
        nn.init.normal_(target, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def discriminator_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor, kind: str = "bce", real_label: float = 0.9
) -> torch.Tensor:
    """bce: real targets `real_label` (one-sided label smoothing; fakes stay 0); hinge: max(0, 1 -+ D)."""
    if kind == "bce":
        real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
        fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return real + fake
    if kind == "hinge":
        return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
    raise ValueError(f"unknown GAN loss {kind!r}")


def generator_loss(fake_logits: torch.Tensor, kind: str = "bce") -> torch.Tensor:
    """bce: the non-saturating -log D(G(z)); hinge: -D(G(z))."""
    if kind == "bce":
        return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    if kind == "hinge":
        return -fake_logits.mean()
    raise ValueError(f"unknown GAN loss {kind!r}")


def condition_loss(aux_logits: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """The auxiliary head's loss: each entry of the condition vector (one-hot label or multi-hot
    attributes) as its own yes-or-no question, summed over entries and averaged over images."""
    return F.binary_cross_entropy_with_logits(aux_logits.float(), c.float(), reduction="sum") / len(c)


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model for parameters; buffers (BN statistics) are copied."""
    ema_params = list(ema.parameters())
    params = [p.detach() for p in model.parameters()]
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)
    for b_ema, b in zip(ema.buffers(), model.buffers(), strict=True):
        b_ema.copy_(b)
