"""Seq2seq models on tiny shapes: every task and decoder runs, and a few steps make the loss fall."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.arith.glyphs import GlyphClassifier
from genlab.arith.inference import attention_maps
from genlab.arith.model import ArithModel, Seq2SeqSpec, Seq2SeqTransformer, build_model
from genlab.arith.problem import ArithSpec, GlyphBank, all_queries
from genlab.arith.train import loss_fn
from genlab.core.mnist import load_mnist

SPEC = ArithSpec()
# a small model: one GRU layer each way, no attention, answers written left to right
TINY = {
    "hidden": 48,
    "embed_dim": 16,
    "enc_layers": 1,
    "dec_layers": 1,
    "arch": "gru",
    "decoder": "autoregressive",
    "dropout": 0.0,
    "reverse": True,
    "reverse_answer": False,
    "attention": False,
    "aux_text": True,
    "cell_features": 128,
    "cnn_width": 16,
    "style_dim": 0,
    "writers": 0,
    "typical_writers": 1.0,
    "hard_reading": False,
}


def tiny(task: str, **kw) -> ArithModel:
    return build_model(
        Seq2SeqSpec(
            input_kind="image" if task.startswith("img") else "text",
            output_kind="image" if task.endswith("img") else "text",
            vocab_size=len(SPEC.vocab),
            query_len=SPEC.query_len,
            answer_len=SPEC.answer_len,
            **{**TINY, **kw},
        )
    )


@pytest.fixture(scope="module")
def batch():
    mnist = load_mnist("auto", seed=0)
    q = all_queries(SPEC)
    bank = GlyphBank.build(SPEC, mnist.images[:1000], mnist.labels[:1000], seed=0)
    idx = np.random.default_rng(0).choice(len(q), 32, replace=False)
    rng = np.random.default_rng(1)
    return {
        "qtok": torch.from_numpy(q.query_tokens[idx]),
        "atok": torch.from_numpy(q.answer_tokens[idx]),
        "qimg": torch.from_numpy(bank.render(q.query_tokens[idx], rng)).float() / 255,
        "aimg": torch.from_numpy(bank.render(q.answer_tokens[idx], rng)).float() / 255,
    }


def _io(task, batch):
    x = batch["qimg"] if task.startswith("img") else batch["qtok"]
    y = batch["aimg"] if task.endswith("img") else batch["atok"]
    return x, y


@pytest.mark.parametrize("task", ["text2text", "img2text", "text2img", "img2img"])
@pytest.mark.parametrize("decoder", ["autoregressive", "repeat"])
@pytest.mark.parametrize("arch", ["gru", "lstm", "transformer"])
def test_shapes_for_every_task_decoder_and_arch(task, decoder, arch, batch):
    model = tiny(task, decoder=decoder, arch=arch, enc_layers=2, dec_layers=1, attention=decoder == "repeat")
    x, y = _io(task, batch)
    logits = model(x[:4], y[:4])
    pred = model.predict(x[:4])
    if task.endswith("img"):
        assert logits.shape == (4, 3, 28, 28)
        assert pred.shape == (4, 3, 28, 28) and 0 <= pred.min() and pred.max() <= 1
    else:
        assert logits.shape == (4, 3, len(SPEC.vocab))
        assert pred.shape == (4, 3) and pred.dtype == torch.long


@pytest.mark.parametrize("task", ["text2text", "img2text", "text2img", "img2img"])
@pytest.mark.parametrize("arch", ["gru", "transformer"])
def test_a_few_steps_make_the_loss_fall(task, arch, batch):
    torch.manual_seed(0)
    model = tiny(task, arch=arch)
    x, y = _io(task, batch)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3 if arch == "gru" else 1e-3)
    losses = []
    for _ in range(25):
        logits = model(x, y, with_aux=task.endswith("img"))
        loss = loss_fn(logits, y, task.endswith("img"), batch["atok"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0]
    if task == "text2img":  # the drawn answers depend on the query (no collapse to one average digit)
        assert model.predict(x[:16]).std(0).mean() > 1e-3


def test_reverse_flag_changes_what_the_encoder_reads(batch):
    torch.manual_seed(0)
    fwd = tiny("text2text", reverse=False)
    rev = tiny("text2text", reverse=True)
    rev.load_state_dict(fwd.state_dict())
    assert not torch.allclose(fwd(batch["qtok"][:4]), rev(batch["qtok"][:4]))


@pytest.mark.parametrize("reverse_answer", [False, True])
@pytest.mark.parametrize("arch", ["gru", "transformer"])
def test_teacher_forcing_matches_greedy_when_the_model_follows_its_own_predictions(
    batch, reverse_answer, arch
):
    torch.manual_seed(0)
    model = tiny("text2text", arch=arch, attention=True, reverse_answer=reverse_answer).eval()
    greedy = model.predict(batch["qtok"])
    with torch.no_grad():
        forced = model(batch["qtok"], greedy.clone()).argmax(-1)
    assert torch.equal(greedy, forced)


@pytest.mark.parametrize("reverse_answer", [False, True])
@pytest.mark.parametrize("arch", ["gru", "transformer"])
def test_reverse_answer_writes_the_units_digit_first(batch, reverse_answer, arch):
    """Teacher forcing: a changed first character reaches the later positions only when it is written
    first; written right to left, it is the last one written and cannot affect the others."""
    torch.manual_seed(0)
    model = tiny("text2text", arch=arch, reverse_answer=reverse_answer).eval()
    target = batch["atok"][:8]
    changed = target.clone()
    changed[:, 0] = (changed[:, 0] + 1) % len(SPEC.vocab)
    with torch.no_grad():
        a, b = model(batch["qtok"][:8], target), model(batch["qtok"][:8], changed)
    later_positions_moved = not torch.allclose(a[:, 1:], b[:, 1:])
    assert later_positions_moved is not reverse_answer
    assert torch.allclose(a[:, 0], b[:, 0])  # the first character never sees itself


def test_glyph_classifier_features():
    model = GlyphClassifier(13).eval()
    x = torch.rand(5, 1, 28, 28)
    assert model(x).shape == (5, 13)
    assert model.features(x).shape == (5, 256)  # the default reader: width 64, 256 features
    narrow = GlyphClassifier(13, feature_dim=128, width=16).eval()
    assert narrow.features(x).shape == (5, 128)
    assert sum(p.numel() for p in narrow.parameters()) < sum(p.numel() for p in model.parameters()) / 4


@pytest.mark.parametrize("arch", ["gru", "transformer"])
@pytest.mark.parametrize("reverse", [False, True])
def test_attention_maps_are_distributions_in_reading_order(batch, arch, reverse):
    torch.manual_seed(0)
    model = tiny("text2text", arch=arch, attention=True, reverse=reverse, reverse_answer=True)
    predicted, weights = attention_maps(model, batch["qtok"][:4])
    assert predicted.shape == (4, SPEC.answer_len)
    assert weights.shape == (4, SPEC.answer_len, SPEC.query_len)
    assert np.allclose(weights.sum(-1), 1.0, atol=1e-5) and weights.min() >= 0
    assert model.attention_maps is None  # recording is switched off again
    # a query character that the model cannot see moves no attention: mask one by its embedding
    if arch == "gru":
        model.eval()
        query = batch["qtok"][:1]
        model.attention_maps = []
        with torch.no_grad():
            model(query, torch.from_numpy(predicted[:1]))
        raw = model.attention_maps[-1][0]  # written order, encoder order
        model.attention_maps = None
        expected = raw.flip(0)
        expected = expected.flip(1) if reverse else expected
        assert np.allclose(weights[0], expected.numpy(), atol=1e-6)


def test_attention_maps_refuse_a_model_without_attention(batch):
    from genlab.core.errors import GenlabError

    with pytest.raises(GenlabError, match="--no-attention"):
        attention_maps(tiny("text2text", attention=False), batch["qtok"][:2])


def test_transformer_positions_tell_the_columns_apart(batch):
    """Without position embeddings a transformer could not tell '12+34' from '21+43'."""
    torch.manual_seed(0)
    model = tiny("text2text", arch="transformer").eval()
    assert isinstance(model, Seq2SeqTransformer)
    q = torch.from_numpy(
        SPEC.encode([SPEC.pad_query(12, "+", 34), SPEC.pad_query(21, "+", 43)], SPEC.query_len)
    )
    with torch.no_grad():
        out = model(q)
    assert not torch.allclose(out[0], out[1])


def test_specs_stored_before_the_transformer_load_their_recurrent_cell():
    stored = {**TINY, "input_kind": "text", "output_kind": "text", "vocab_size": 13, "query_len": 5,
              "answer_len": 3}  # fmt: skip
    del stored["arch"]
    stored["cell"] = "lstm"
    spec = Seq2SeqSpec.from_stored(stored)
    assert spec.arch == "lstm" and isinstance(build_model(spec).encoder, torch.nn.LSTM)


def test_hard_reading_enters_each_cell_as_the_character_the_reader_reads():
    torch.manual_seed(0)
    vocab = len(SPEC.vocab)
    tokens = torch.tensor([[1, 4, 10, 7, 2], [0, 0, 11, 9, 3]])
    read = torch.nn.functional.one_hot(tokens, vocab).float()
    confident = 0.98 * read + 0.02 / vocab
    unsure = 0.55 * read + 0.45 / vocab  # the same argmax, far less peaked (unseen handwriting)
    hard = tiny("img2text", hard_reading=True)
    assert torch.allclose(hard.embed_cell_features(confident), hard.embed_cell_features(unsure))
    assert torch.allclose(hard.embed_cell_features(unsure), hard.in_proj(read))
    soft = tiny("img2text", hard_reading=False)
    assert not torch.allclose(
        soft.embed_cell_features(confident), soft.embed_cell_features(unsure), atol=1e-3
    )
    # a reader that trains (--finetune-cnn) still gets the probabilities' gradient, straight through
    probs = unsure.clone().requires_grad_(True)
    hard.embed_cell_features(probs).sum().backward()
    assert probs.grad is not None and probs.grad.abs().sum() > 0


def test_feature_bank_is_read_once_per_reader_and_handwriting(monkeypatch):
    import genlab.arith.train as train
    from genlab.core.cache import cache_dir

    mnist = load_mnist("auto", seed=0)
    bank = GlyphBank.build(SPEC, mnist.images[:200], mnist.labels[:200], seed=0)
    model = tiny("img2text")
    first = train.feature_bank(model, bank, copies=2, seed=3)
    assert first.shape == (2, len(bank.images), len(SPEC.vocab))
    assert torch.allclose(first.sum(-1), torch.ones(2, len(bank.images)), atol=1e-5)
    assert list((cache_dir() / "cell_probs").glob("*.npz"))

    def no_reading(*args, **kwargs):
        raise AssertionError("the cached readings should have been used")

    monkeypatch.setattr(train, "read_query_cells", no_reading)
    assert torch.equal(train.feature_bank(model, bank, copies=2, seed=3), first)
    monkeypatch.undo()
    other_reader = tiny("img2text")  # other weights read differently: not the cached readings
    with torch.no_grad():
        other_reader.cell_encoder.head[-1].bias.add_(1.0)
    assert not torch.equal(train.feature_bank(other_reader, bank, copies=2, seed=3), first)


def test_rendered_cells_are_read_once_per_bank_image_as_reading_each_cell_would():
    from genlab.arith.inference import read_rendered_cells, render_cells
    from genlab.arith.model import read_query_cells

    mnist = load_mnist("auto", seed=0)
    bank = GlyphBank.build(SPEC, mnist.images[:300], mnist.labels[:300], seed=0)
    model = tiny("img2text")
    tokens = all_queries(SPEC).query_tokens[:64]
    cells, probs = read_rendered_cells(model, tokens, bank, seed=7, device="cpu")
    assert np.array_equal(cells, render_cells(tokens, bank, seed=7))  # the same handwriting
    each = read_query_cells(model, torch.from_numpy(cells).float().div_(255), "cpu")
    assert probs.shape == each.shape == (64, SPEC.query_len, len(SPEC.vocab))
    assert torch.allclose(probs, each, atol=1e-5)
