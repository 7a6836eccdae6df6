"""Encoder-decoder models for arithmetic, with text or handwriting on either side.

    query  (B, Tq) tokens  or (B, Tq, 28, 28) images
      -> embedding / per-cell CNN        (B, Tq, E)
      -> encoder (enc_layers)            RNN: final state, context c = top layer's last h (B, H)
                                         transformer: self-attention over the query (B, Tq, H)
      -> decoder (dec_layers)            (B, Ta, H); RNN: Luong attention, transformer: cross-attention
      -> head                            (B, Ta, V) logits  or (B, Ta, 28, 28) pixel logits

Two decoders: "repeat" decodes every answer position from the query alone (the RNN feeds c at every
step, the notebook's RepeatVector); the "autoregressive" one also feeds the previous output (a
token, or an image), with teacher forcing in training and greedy decoding at inference.
`build_model(spec)` picks the architecture (`--arch gru|lstm|transformer`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from genlab.arith.glyphs import GlyphClassifier
from genlab.core.errors import GenlabError

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass
class Seq2SeqSpec:
    """Everything needed to rebuild a model (stored in the run's config.json).

    Built from an ArithConfig by `genlab.arith.runs.model_spec`, which owns every default; a stored
    spec is read back with `from_stored`."""

    input_kind: str  # "text" | "image"
    output_kind: str  # "text" | "image"
    vocab_size: int
    query_len: int
    answer_len: int
    hidden: int
    embed_dim: int
    enc_layers: int
    dec_layers: int
    arch: str  # "gru" | "lstm" (recurrent) | "transformer"
    decoder: str  # "autoregressive" | "repeat"
    dropout: float
    reverse: bool  # read the query right to left: the last digits meet the decoder first
    # write the answer right to left (units first, as column arithmetic does); inputs and outputs
    # of `decode` stay in reading order, the flip is internal
    reverse_answer: bool
    attention: bool  # Luong attention of each decoder output over the encoder outputs
    # image outputs: also predict each answer character from the decoder state (a training-only
    # auxiliary loss). Without it, pixel loss alone lets the encoder saturate into a constant
    # state and the decoder draws the same average digit for every query.
    aux_text: bool
    cell_features: int  # the glyph classifier's feature size (image inputs)
    cnn_width: int  # the glyph classifier's conv width (image inputs)
    # image outputs written as handwriting (--answer-style handwriting): the size of the style code
    # the image head draws with, a conditional VAE or autoencoder per answer cell; 0 = a
    # deterministic head
    style_dim: int
    # handwriting answers in a new writer's style draw the code from the posteriors of this many
    # real train-pool drawings of the character written (kept in the model); 0 = from the N(0, 1)
    # prior, whose far draws decode to illegible strokes
    writers: int
    # new writers come from this share of each character's bank, the codes nearest the character's
    # mean code (a truncation: more legible, less varied; 1 = every writer in the bank)
    typical_writers: float
    # image inputs: each cell enters as the one character the glyph reader reads (its argmax, with
    # the probabilities' gradient passed straight through when the reader trains), not as the
    # reader's class probabilities; README (Arithmetic, Models) says what it measured
    hard_reading: bool

    # what runs stored before a field existed were built with
    LEGACY: ClassVar[dict[str, Any]] = {
        "attention": False,
        "aux_text": False,
        "reverse_answer": False,
        "cell_features": 128,
        "cnn_width": 16,
        "style_dim": 0,
        "writers": 0,
        "typical_writers": 1.0,
        "hard_reading": False,
    }

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Seq2SeqSpec:
        """The spec stored in a run's config.json, with the fields older runs lack filled in as
        those runs were built."""
        values = {**cls.LEGACY, **stored}
        if "cell" in values:  # runs from before the transformer named their recurrent cell "cell"
            values["arch"] = values.pop("cell")
        if values.pop("attention_heads", 1) != 1:  # an option that existed for a while, then went
            raise GenlabError(
                "this run uses multi-head attention, which this genlab no longer builds: train it again"
            )
        return cls(**values)


def _rnn(cell: str, input_size: int, hidden: int, layers: int, dropout: float) -> nn.RNNBase:
    kind = {"gru": nn.GRU, "lstm": nn.LSTM}[cell]
    return kind(input_size, hidden, layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)


class ImageHead(nn.Module):
    """(N, H) -> (N, 28, 28) pixel logits: dense -> reshape -> two transposed convolutions."""

    def __init__(self, hidden: int, channels: int = 16) -> None:
        super().__init__()
        self.channels = channels
        self.dense = nn.Sequential(nn.Linear(hidden, channels * 7 * 7), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(channels, channels // 2, 4, 2, 1),  # (C/2) x 14 x 14
            nn.ReLU(),
            nn.ConvTranspose2d(channels // 2, 1, 4, 2, 1),  # 1 x 28 x 28
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        x = self.dense(h).view(-1, self.channels, 7, 7)
        return self.deconv(x)[:, 0]


class StyleEncoder(nn.Module):
    """Handwriting cells (..., 28, 28) in [0, 1] and their characters (...) -> the posterior (mean,
    log-variance) (..., Z) of their style code: the encoder of the handwriting head. It is told the
    character, as the decoder is, so the code is left to carry what the character does not (slant,
    width, stroke)."""

    def __init__(self, style_dim: int, vocab_size: int, channels: int = 32) -> None:
        super().__init__()
        self.vocab_size = vocab_size
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 4, 2, 1),  # C x 14 x 14
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 4, 2, 1),  # 2C x 7 x 7
            nn.ReLU(),
            nn.Flatten(),
        )
        self.out = nn.Sequential(
            nn.Linear(2 * channels * 7 * 7 + vocab_size, 256), nn.ReLU(), nn.Linear(256, 2 * style_dim)
        )

    def forward(self, cells: torch.Tensor, chars: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lead = cells.shape[:-2]
        features = self.conv(cells.reshape(-1, 1, 28, 28))
        one_hot = nn.functional.one_hot(chars.reshape(-1), self.vocab_size).to(features.dtype)
        mean, log_var = self.out(torch.cat([features, one_hot], -1)).chunk(2, -1)
        return mean.reshape(*lead, -1), log_var.clamp(-10.0, 10.0).reshape(*lead, -1)


class CellCritic(nn.Module):
    """Drawings (..., 28, 28) in [0, 1] of characters (...) -> (...) logits of "a real drawing of
    this character": the adversary of handwriting answers (--style-adv), trained beside the model
    and kept in the resume point only, as it never answers anything. A projection critic
    (Miyato & Koyama 2018): an unconditional score of the drawing plus the match of its features
    with the character's embedding, so a sharp 7 drawn where a 1 was asked still scores low."""

    def __init__(self, vocab_size: int, channels: int = 32) -> None:
        super().__init__()
        features = 2 * channels * 7 * 7
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 4, 2, 1),  # C x 14 x 14
            nn.LeakyReLU(0.2),
            nn.Conv2d(channels, 2 * channels, 4, 2, 1),  # 2C x 7 x 7
            nn.LeakyReLU(0.2),
            nn.Flatten(),
        )
        self.score = nn.Linear(features, 1)
        self.embed = nn.Embedding(vocab_size, features)
        nn.init.zeros_(self.embed.weight)

    def forward(self, cells: torch.Tensor, chars: torch.Tensor) -> torch.Tensor:
        f = self.conv(cells.reshape(-1, 1, 28, 28))
        logits = self.score(f)[:, 0] + (self.embed(chars.reshape(-1)) * f).sum(-1) / f.shape[-1] ** 0.5
        return logits.reshape(chars.shape)


def kl_to_prior(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)) summed over the code, averaged over the cells (nats)."""
    return 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(-1).mean()


HANDWRITING_HEAD_CHANNELS = 32


class ArithModel(nn.Module):
    """What both architectures share: the query's way in (token embeddings, or a glyph classifier's
    reading of each handwriting cell), the answer's way out (character logits, or pixel logits with
    the auxiliary character head), feeding back the previous answer character, and the flip of
    right-to-left answers. Subclasses encode the query (`encode`) and run their decoder (`_decode`).

    Set `attention_maps` to a list to record, on each decoder pass, the weights (B, Ta, Tq) with
    which every answer position (in the order written) looked at the encoder's positions.
    """

    def __init__(self, spec: Seq2SeqSpec, width: int) -> None:
        super().__init__()
        self.spec = spec
        s = spec
        if s.input_kind == "image":
            # each cell is read by a glyph classifier; the character it reads (or its class
            # probabilities, without hard_reading) is the cell's input, so the sequence model sees
            # text and the CNN can start from the pretrained reader
            self.cell_encoder = GlyphClassifier(s.vocab_size, s.cell_features, s.cnn_width)
            self.in_proj = nn.Linear(s.vocab_size, width)
        else:
            self.in_embed = nn.Embedding(s.vocab_size, width)
        if s.decoder == "autoregressive":
            if s.output_kind == "text":
                self.out_embed = nn.Embedding(s.vocab_size + 1, width)  # last index = start
            else:
                self.out_embed_img = nn.Linear(28 * 28, width)
                self.start = nn.Parameter(torch.zeros(width))
        elif s.decoder != "repeat":
            raise ValueError(f"unknown decoder {s.decoder!r}")
        self.drop = nn.Dropout(s.dropout)
        if s.output_kind == "text":
            self.head = nn.Linear(s.hidden, s.vocab_size)
        else:
            head_in = s.hidden
            if s.aux_text:
                # the decoder first predicts each answer character, then draws it: the image head
                # sees the state and the character probabilities, so drawing a '7' is a near-lookup
                self.aux_head = nn.Linear(s.hidden, s.vocab_size)
                head_in += s.vocab_size
            if s.style_dim:
                self.style_encoder = StyleEncoder(s.style_dim, s.vocab_size)
                self.head = ImageHead(head_in + s.style_dim, HANDWRITING_HEAD_CHANNELS)
                if s.writers:  # filled by `refresh_writers`, saved with the weights
                    shape = (s.vocab_size, s.writers, s.style_dim)
                    self.register_buffer("writer_mean", torch.zeros(shape))
                    self.register_buffer("writer_log_var", torch.zeros(shape))
                    self.register_buffer("writer_count", torch.zeros(s.vocab_size, dtype=torch.long))
            else:
                self.head = ImageHead(head_in)
        self.attention_maps: list[torch.Tensor] | None = None

    # -- the query's way in -----------------------------------------------------------------

    def embed_query(self, query: torch.Tensor) -> torch.Tensor:
        """tokens (B, Tq) or images (B, Tq, 28, 28) in [0, 1] -> (B, Tq, E)."""
        if self.spec.input_kind == "text":
            return self.in_embed(query)
        b, t = query.shape[:2]
        feats = self.read_cells(query.reshape(b * t, 1, 28, 28)).view(b, t, -1)
        return self.embed_cell_features(feats)

    def read_cells(self, cells: torch.Tensor) -> torch.Tensor:
        """(N, 1, 28, 28) in [0, 1] -> (N, V) class probabilities of each cell."""
        return torch.softmax(self.cell_encoder(cells), -1)

    def embed_cell_features(self, feats: torch.Tensor) -> torch.Tensor:
        """Cell probabilities (B, Tq, V), read here or precomputed (training with a frozen cell CNN)
        -> (B, Tq, E)."""
        if self.spec.hard_reading:
            # the reader's probabilities on unseen handwriting are less peaked than on the training
            # pool; the character it reads is the same kind of input on both
            read = (feats == feats.amax(-1, keepdim=True)).to(feats.dtype)
            feats = read + feats - feats.detach()
        return self.in_proj(feats)

    def encode(self, embedded: torch.Tensor) -> tuple[Any, ...]:
        """(B, Tq, E) -> what `decode` starts from."""
        raise NotImplementedError

    # -- the answer's way out ---------------------------------------------------------------

    def _feedback(self, previous: torch.Tensor | None, batch: int) -> torch.Tensor:
        """Embedding of the previous output (B, E); None means the start of the answer."""
        if self.spec.output_kind == "text":
            if previous is None:
                previous = torch.full(
                    (batch,), self.spec.vocab_size, dtype=torch.long, device=self.head.weight.device
                )
            return self.out_embed(previous)
        if previous is None:
            return self.start.expand(batch, -1)
        return self.out_embed_img(previous.reshape(batch, -1))

    def _teacher_inputs(self, target: torch.Tensor) -> torch.Tensor:
        """The decoder's inputs under teacher forcing: start, then the target shifted by one (B, Ta, E)."""
        b, length = target.shape[:2]
        first = self._feedback(None, b).unsqueeze(1)  # (B, 1, E)
        if self.spec.output_kind == "text":
            rest = self.out_embed(target[:, :-1])  # (B, Ta-1, E)
        else:
            rest = self.out_embed_img(target[:, :-1].reshape(b, length - 1, -1))
        return torch.cat([first, rest], 1)

    def _next_input(self, step_logits: torch.Tensor) -> torch.Tensor:
        """What greedy decoding feeds back after one step's logits: a token or an image."""
        return step_logits.argmax(-1) if self.spec.output_kind == "text" else torch.sigmoid(step_logits)

    def _output(self, out: torch.Tensor, with_aux: bool = False, style: torch.Tensor | None = None) -> Any:
        """(B, Ta, H) -> (B, Ta, V) logits or (B, Ta, 28, 28) pixel logits (+ auxiliary char logits);
        `style` (B, Ta, Z): the handwriting style code of each cell (None: the mean style). A style
        for fewer rows than B (training, `drawn`) draws only the first rows; the auxiliary logits
        cover all B."""
        out = self.drop(out)
        if self.spec.output_kind == "text":
            return self.head(out)
        aux = self.aux_head(out) if self.spec.aux_text else None  # (B, Ta, V)
        if self.spec.style_dim:  # handwriting: draw the character from a style code
            drawn = len(out) if style is None else len(style)
            instructions = self._drawing_instructions(aux[:drawn], style)
            out = torch.cat([out[:drawn], instructions], -1)  # (drawn, Ta, H + V + Z)
        elif aux is not None:
            out = torch.cat([out, torch.softmax(aux, -1)], -1)  # (B, Ta, H + V)
        b, t, h = out.shape
        pixels = self.head(out.reshape(b * t, h)).view(b, t, 28, 28)
        return (pixels, aux) if with_aux else pixels

    def _drawing_instructions(self, aux: torch.Tensor, style: torch.Tensor | None) -> torch.Tensor:
        """What the handwriting head draws and how: a character one-hot and a style code (B, Ta, V + Z).

        `style` is (B, Ta, Z), a code only: the character is the one the auxiliary head predicts;
        or (B, Ta, 1 + Z), a writer draw from `sample_styles` (resolved by `_writer_codes` once the
        character is known); or (B, Ta, V + Z) in training, the true character already in front
        (teacher forcing, so the style code need not learn the character, and the head always sees
        a one-hot). None: the mean style (of the writer bank's codes of each character, where the
        model has a bank; else the prior's mean)."""
        v, z = self.spec.vocab_size, self.spec.style_dim
        if style is None and self.spec.writers:
            count = self.writer_count.clamp(min=1).unsqueeze(-1).to(aux.dtype)  # (V, 1)
            style = (self.writer_mean.sum(1) / count)[aux.argmax(-1)]  # empty rows sum to 0
        elif style is None:
            style = aux.new_zeros(*aux.shape[:2], z)
        if style.shape[-1] == z + 1:
            style = self._writer_codes(aux.argmax(-1), style.to(aux.dtype))
        if style.shape[-1] == z:
            chars = torch.nn.functional.one_hot(aux.argmax(-1), v).to(aux.dtype)
            style = torch.cat([chars, style.to(aux.dtype)], -1)
        return style.to(aux.dtype)

    def _record(self, weights: torch.Tensor) -> None:
        if self.attention_maps is not None:
            self.attention_maps.append(weights.detach())

    def decode(
        self,
        encoded: tuple[Any, ...],
        target: torch.Tensor | None = None,
        with_aux: bool = False,
        style: torch.Tensor | None = None,
    ) -> Any:
        """Logits for every answer position; `target` (tokens or images in [0,1]) = teacher forcing.

        `with_aux` (image outputs, training): return (pixel logits, auxiliary char logits or None).
        `style` (handwriting answers): the style code of the whole answer (B, Z) or of each cell
        (B, Ta, Z), in reading order.
        """
        if style is not None and style.dim() == 2:
            style = style[:, None].expand(-1, self.spec.answer_len, -1)
        if not self.spec.reverse_answer:
            return self._decode(encoded, target, with_aux, style)
        flipped = self._decode(
            encoded,
            None if target is None else target.flip(1),
            with_aux,
            None if style is None else style.flip(1),
        )
        if isinstance(flipped, tuple):
            return tuple(None if t is None else t.flip(1) for t in flipped)
        return flipped.flip(1)

    def _decode(
        self,
        encoded: tuple[Any, ...],
        target: torch.Tensor | None,
        with_aux: bool,
        style: torch.Tensor | None,
    ) -> Any:
        """`decode` in the order the answer is written (right to left with `reverse_answer`)."""
        raise NotImplementedError

    def forward(
        self,
        query: torch.Tensor,
        target: torch.Tensor | None = None,
        cell_probs: bool = False,
        with_aux: bool = False,
        chars: torch.Tensor | None = None,
        drawn: int | None = None,
    ) -> Any:
        """Teacher-forced logits for `target` (greedy decoding without one); `cell_probs` as in
        `predict`; `with_aux` also returns the image head's auxiliary character logits.

        Handwriting answers in training (`target` images and their characters `chars` (B, Ta) given,
        `with_aux`): each cell is drawn from its true character and a style code sampled from the
        posterior of its target cell, and the result is (pixel logits, aux logits, the KL of those
        posteriors to the prior), the loss terms of a conditional VAE (or, with no KL weight, of a
        conditional autoencoder). `drawn`: draw (and encode the style of) the answers of only the
        first `drawn` queries, a cheaper step; the auxiliary logits still cover every query."""
        embedded = self.embed_cell_features(query) if cell_probs else self.embed_query(query)
        style = kl = None
        if self.spec.style_dim and target is not None and with_aux and chars is not None:
            chars = chars[:drawn]
            mean, log_var = self.style_encoder(target[:drawn], chars)  # (drawn, Ta, Z) each
            code = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
            one_hot = torch.nn.functional.one_hot(chars, self.spec.vocab_size).to(code.dtype)
            style = torch.cat([one_hot, code], -1)
            kl = kl_to_prior(mean, log_var)
        out = self.decode(self.encode(embedded), target, with_aux=with_aux, style=style)
        return (*out, kl) if kl is not None else out

    def sample_styles(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor | None:
        """`n` new writers' styles (None: not a handwriting model).

        With a writer bank: (n, Ta, 1 + Z), for each answer cell a uniform draw in [0, 1) that
        picks one of the bank's drawings of the character the cell turns out to be, and a standard
        normal draw from that drawing's posterior; without one: style codes (n, Z) from the prior."""
        if not self.spec.style_dim:
            return None
        z = self.spec.style_dim
        if not self.spec.writers:
            return torch.randn(n, z, generator=generator)
        pick = torch.rand(n, self.spec.answer_len, 1, generator=generator)
        return torch.cat([pick, torch.randn(n, self.spec.answer_len, z, generator=generator)], -1)

    def _writer_codes(self, chars: torch.Tensor, draws: torch.Tensor) -> torch.Tensor:
        """Writer draws (B, Ta, 1 + Z) for cells of characters `chars` (B, Ta) -> style codes
        (B, Ta, Z): a sample from the posterior of the picked bank drawing of each character (the
        prior where the bank holds none)."""
        pick, noise = draws[..., 0], draws[..., 1:]
        count = self.writer_count[chars]  # (B, Ta)
        share = self.spec.typical_writers
        usable = count if share >= 1 else (count * share).ceil().long().clamp(min=1)
        row = (pick * usable).long().clamp(max=self.spec.writers - 1).clamp(min=0)
        if share < 1:
            row = self._writers_by_typicality()[chars, row]
        mean = self.writer_mean[chars, row]
        std = (0.5 * self.writer_log_var[chars, row]).exp()
        code = mean + noise * std
        return torch.where((count > 0).unsqueeze(-1), code, noise)

    def _writers_by_typicality(self) -> torch.Tensor:
        """(V, writers) bank rows of each character, the code nearest the character's mean code
        first (empty rows last)."""
        k = self.spec.writers
        filled = torch.arange(k, device=self.writer_count.device) < self.writer_count.unsqueeze(-1)  # (V, K)
        weight = filled.unsqueeze(-1).to(self.writer_mean.dtype)
        centre = (self.writer_mean * weight).sum(1, keepdim=True) / weight.sum(1, keepdim=True).clamp(min=1)
        distance = (self.writer_mean - centre).norm(dim=-1).masked_fill(~filled, float("inf"))
        return distance.argsort(dim=1)

    @torch.no_grad()
    def refresh_writers(self, images: torch.Tensor, labels: torch.Tensor, seed: int = 0) -> None:
        """Fill the writer bank from real drawings (N, 28, 28) in [0, 1] of characters `labels` (N,):
        up to `spec.writers` of each character (a seeded choice), encoded by the current style
        encoder. Called before every validation in training, so saved weights carry a bank that
        matches their encoder."""
        k = self.spec.writers
        if not k:
            return
        device = self.writer_mean.device
        generator = torch.Generator().manual_seed(seed)
        self.writer_count.zero_()
        for char in range(self.spec.vocab_size):
            rows = torch.nonzero(labels == char).flatten()
            if len(rows) == 0:
                continue
            rows = rows[torch.randperm(len(rows), generator=generator)[:k]]
            mean, log_var = self.style_encoder(
                images[rows].to(device), torch.full((len(rows),), char, device=device)
            )
            self.writer_mean[char, : len(rows)] = mean
            self.writer_log_var[char, : len(rows)] = log_var
            self.writer_count[char] = len(rows)

    @torch.inference_mode()
    def query_styles(
        self, cells: torch.Tensor, reading: torch.Tensor, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Style codes (B, Z) that write in the style of each query's handwritten digits: a draw from
        the posteriors of its cells (B, Tq, 28, 28), read as the characters `reading` (B, Tq) (from
        the glyph reader), averaged over the cells read as digits."""
        device = self.head.dense[0].weight.device
        reading = reading.to(device)
        mean, log_var = self.style_encoder(cells.to(device), reading)  # (B, Tq, Z)
        weight = (reading < 10).float().unsqueeze(-1)  # (B, Tq, 1)
        count = weight.sum(1).clamp(min=1.0)
        mean = (mean * weight).sum(1) / count
        std = ((log_var.exp() * weight).sum(1) / count).sqrt()
        noise = torch.randn(mean.shape, generator=generator).to(device)
        return (mean + noise * std).cpu()

    @torch.inference_mode()
    def predict(
        self, query: torch.Tensor, cell_probs: bool = False, style: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Greedy answers: tokens (B, Ta), or images (B, Ta, 28, 28) in [0, 1].

        `cell_probs`: `query` is already the cells' class probabilities (B, Tq, V) from `read_cells`.
        `style` (handwriting answers): each answer's style code (B, Z) (None: the mean style).
        """
        embedded = self.embed_cell_features(query) if cell_probs else self.embed_query(query)
        if style is not None:
            style = style.to(embedded.device)
        logits = self.decode(self.encode(embedded), style=style)
        return logits.argmax(-1) if self.spec.output_kind == "text" else torch.sigmoid(logits)


class Seq2Seq(ArithModel):
    """The recurrent encoder-decoder (GRU or LSTM), with Luong attention over the encoder outputs."""

    def __init__(self, spec: Seq2SeqSpec) -> None:
        super().__init__(spec, spec.embed_dim)
        s = spec
        self.encoder = _rnn(s.arch, s.embed_dim, s.hidden, s.enc_layers, s.dropout)
        dec_in = s.hidden + (s.embed_dim if s.decoder == "autoregressive" else 0)
        self.decoder = _rnn(s.arch, dec_in, s.hidden, s.dec_layers, s.dropout)
        if s.attention:
            self.attn_score = nn.Linear(s.hidden, s.hidden, bias=False)  # score = h_t W e_s
            self.attn_combine = nn.Linear(2 * s.hidden, s.hidden)

    def encode(self, embedded: torch.Tensor) -> tuple[State, torch.Tensor, torch.Tensor]:
        """(B, Tq, E) -> (decoder initial state, context (B, H), encoder outputs (B, Tq, H))."""
        if self.spec.reverse:
            embedded = embedded.flip(1)
        memory, state = self.encoder(embedded)
        top = (state[0][-1], state[1][-1]) if isinstance(state, tuple) else state[-1]  # (B, H) each
        n = self.spec.dec_layers
        if isinstance(top, tuple):
            h, c = top
            init: State = (
                h.unsqueeze(0).repeat(n, 1, 1).contiguous(),
                c.unsqueeze(0).repeat(n, 1, 1).contiguous(),
            )
            context = top[0]
        else:
            init, context = top.unsqueeze(0).repeat(n, 1, 1).contiguous(), top
        return init, context, memory

    def _attend(self, out: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Luong attention: (B, Ta, H) decoder outputs -> tanh(W [h_t; sum_s a_ts e_s]) (B, Ta, H)."""
        weights = torch.softmax(self.attn_score(out) @ memory.transpose(1, 2), -1)  # (B, Ta, Tq)
        self._record(weights)
        return torch.tanh(self.attn_combine(torch.cat([out, weights @ memory], -1)))

    def _head(
        self,
        out: torch.Tensor,
        memory: torch.Tensor,
        with_aux: bool = False,
        style: torch.Tensor | None = None,
    ) -> Any:
        if self.spec.attention:
            out = self._attend(out, memory)
        return self._output(out, with_aux, style)

    def _decode(
        self,
        encoded: tuple[Any, ...],
        target: torch.Tensor | None,
        with_aux: bool,
        style: torch.Tensor | None,
    ) -> Any:
        state, context, memory = encoded
        b, length = context.shape[0], self.spec.answer_len
        ctx = context.unsqueeze(1).expand(b, length, -1)  # (B, Ta, H)
        if self.spec.decoder == "repeat":
            out, _ = self.decoder(ctx, state)
            return self._head(out, memory, with_aux, style)
        if target is not None:
            out, _ = self.decoder(torch.cat([self._teacher_inputs(target), ctx], -1), state)
            return self._head(out, memory, with_aux, style)
        # greedy: feed back the model's own previous output
        previous, logits = None, []
        for t in range(length):
            step_in = torch.cat([self._feedback(previous, b), context], -1).unsqueeze(1)  # (B, 1, E+H)
            out, state = self.decoder(step_in, state)
            step = self._head(out, memory, style=None if style is None else style[:, t : t + 1])[:, 0]
            logits.append(step)
            previous = self._next_input(step)
        return torch.stack(logits, 1)


TRANSFORMER_HEADS = 4


class _DecoderLayer(nn.Module):
    """Pre-norm transformer decoder layer that also returns its cross-attention weights (B, Ta, Tq)
    (torch's nn.TransformerDecoderLayer does not)."""

    def __init__(self, width: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.cross_attn = nn.MultiheadAttention(width, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * width, width)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(width) for _ in range(3))
        self.drop = nn.Dropout(dropout)

    def forward(
        self, x: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.norms[0](x)
        x = x + self.drop(self.self_attn(h, h, h, attn_mask=mask, need_weights=False)[0])
        h = self.norms[1](x)
        attended, weights = self.cross_attn(h, memory, memory, need_weights=True)
        x = x + self.drop(attended)
        return x + self.drop(self.ff(self.norms[2](x))), weights


class Seq2SeqTransformer(ArithModel):
    """An encoder-decoder transformer (torch.nn attention) on the same inputs and outputs.

    Positions are learned embeddings, one per query column and one per answer position: with the
    aligned query layout each column holds one place value of one operand, so a position embedding
    is a digit's place. `--hidden` is the model width (4 heads). The "autoregressive" decoder feeds
    back the previous answer character under a causal mask; "repeat" decodes every answer position
    at once from its position embedding alone.
    """

    def __init__(self, spec: Seq2SeqSpec) -> None:
        super().__init__(spec, spec.hidden)
        s, width = spec, spec.hidden
        self.query_pos = nn.Embedding(s.query_len, width)
        self.answer_pos = nn.Embedding(s.answer_len, width)
        layer = nn.TransformerEncoderLayer(
            width, TRANSFORMER_HEADS, 4 * width, s.dropout, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, s.enc_layers, enable_nested_tensor=False)
        self.encoder_norm = nn.LayerNorm(width)
        self.decoder = nn.ModuleList(
            _DecoderLayer(width, TRANSFORMER_HEADS, s.dropout) for _ in range(s.dec_layers)
        )
        self.decoder_norm = nn.LayerNorm(width)

    def encode(self, embedded: torch.Tensor) -> tuple[torch.Tensor]:
        """(B, Tq, E) -> (encoder outputs (B, Tq, H),)."""
        if self.spec.reverse:
            embedded = embedded.flip(1)
        positions = torch.arange(embedded.shape[1], device=embedded.device)
        return (self.encoder_norm(self.encoder(embedded + self.query_pos(positions))),)

    def _run_decoder(self, inputs: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """(B, T, H) decoder inputs, T <= answer_len -> (B, T, H) outputs; records the top layer's
        cross-attention."""
        t = inputs.shape[1]
        x = inputs + self.answer_pos(torch.arange(t, device=inputs.device))
        mask = None
        if self.spec.decoder == "autoregressive":
            mask = torch.ones(t, t, dtype=torch.bool, device=inputs.device).triu(1)  # True = hidden
        weights = None
        for layer in self.decoder:
            x, weights = layer(x, memory, mask)
        if weights is not None:
            self._record(weights)
        return self.decoder_norm(x)

    def _decode(
        self,
        encoded: tuple[Any, ...],
        target: torch.Tensor | None,
        with_aux: bool,
        style: torch.Tensor | None,
    ) -> Any:
        (memory,) = encoded
        b, length = memory.shape[0], self.spec.answer_len
        if self.spec.decoder == "repeat":
            blank = memory.new_zeros(b, length, memory.shape[-1])
            return self._output(self._run_decoder(blank, memory), with_aux, style)
        if target is not None:
            return self._output(self._run_decoder(self._teacher_inputs(target), memory), with_aux, style)
        # greedy: run the decoder over the answer so far, keep the last position's output
        inputs, logits = [self._feedback(None, b)], []
        for t in range(length):
            out = self._run_decoder(torch.stack(inputs, 1), memory)[:, -1:]
            step = self._output(out, style=None if style is None else style[:, t : t + 1])[:, 0]
            logits.append(step)
            inputs.append(self._feedback(self._next_input(step), b))
        return torch.stack(logits, 1)


ARCHS = ("gru", "lstm", "transformer")


def build_model(spec: Seq2SeqSpec) -> ArithModel:
    """The model a spec describes: the transformer, or the recurrent model with its cell."""
    return Seq2SeqTransformer(spec) if spec.arch == "transformer" else Seq2Seq(spec)


@torch.inference_mode()
def read_query_cells(
    model: ArithModel, cells: torch.Tensor, device: Any, batch_size: int = 1024
) -> torch.Tensor:
    """Images (N, Tq, 28, 28) in [0, 1] -> the model's cell probabilities (N, Tq, V)."""
    model.eval()
    flat = cells.reshape(-1, 1, 28, 28)
    probs = [
        model.read_cells(flat[i : i + batch_size].to(device)).cpu() for i in range(0, len(flat), batch_size)
    ]
    return torch.cat(probs).view(*cells.shape[:2], -1)
