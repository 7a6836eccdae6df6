"""Arithmetic data: encodings, answers, splits, handwriting pools and rendering."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlab.arith.problem import (
    ArithSpec,
    GlyphBank,
    all_queries,
    augment_cells,
    draw_glyphs,
    split_handwriting,
    split_queries,
    strip,
    swapped_twins,
)
from genlab.core.errors import GenlabError
from genlab.core.mnist import load_mnist


@pytest.fixture(scope="module")
def mnist():
    return load_mnist("auto", seed=0)


def test_default_problem_has_20000_queries_and_notebook_lengths():
    spec = ArithSpec(layout="left")
    q = all_queries(spec)
    assert len(q) == 20_000
    assert spec.vocab == "0123456789+- " and spec.query_len == 5 and spec.answer_len == 3
    assert q.query_tokens.shape == (20_000, 5) and q.answer_tokens.shape == (20_000, 3)
    assert "81+24" in q.query_text and "41-89" in q.query_text
    assert q.answer_text[q.query_text.index("81+24")] == "105"
    assert q.answer_text[q.query_text.index("41-89")] == "-48"
    assert q.answer_text[q.query_text.index("1+1  ")] == "  2"


def test_encodings_round_trip():
    spec = ArithSpec()
    q = all_queries(spec)
    assert spec.decode(q.query_tokens) == q.query_text
    assert spec.decode(q.answer_tokens) == q.answer_text


@pytest.mark.parametrize("spec", [ArithSpec(), ArithSpec(99, "+-*"), ArithSpec(9, "+")])
def test_every_stored_answer_is_correct(spec):
    q = all_queries(spec)
    for query, answer in zip(q.query_text, q.answer_text, strict=True):
        assert int(answer) == eval(query.strip())  # the queries are plain integer arithmetic
        assert len(answer) == spec.answer_len and len(query) == spec.query_len


def test_lengths_follow_from_max_int_and_operators():
    assert ArithSpec(99, "+-*").answer_len == 4  # 99*99 = 9801
    assert "*" in ArithSpec(99, "+-*").vocab
    assert ArithSpec(9, "+-").query_len == 3 and ArithSpec(9, "+-").answer_len == 2
    assert ArithSpec(999, "+").query_len == 7


@pytest.mark.parametrize("bad", ["8+", "abc", "100+1", "", "1+2+3", "5/5"])
def test_malformed_or_out_of_range_queries_are_refused(bad):
    with pytest.raises(GenlabError):
        ArithSpec().parse(bad)


def test_parse_accepts_spaces():
    assert ArithSpec().parse(" 81 + 24 ") == (81, "+", 24)


def test_query_split_is_disjoint_and_complete():
    split = split_queries(20_000, 0.1, seed=3)
    sets = [set(split.train), set(split.val), set(split.test)]
    assert len(split.train) == 2000
    assert not (sets[0] & sets[1]) and not (sets[0] & sets[2]) and not (sets[1] & sets[2])
    assert len(sets[0] | sets[1] | sets[2]) == 20_000
    again = split_queries(20_000, 0.1, seed=3)
    assert np.array_equal(split.test, again.test)
    with pytest.raises(GenlabError):
        split_queries(100, 1.5)


def test_handwriting_pools_are_disjoint_stratified_or_shared(mnist):
    train, test = split_handwriting(mnist.labels, mnist.is_test, 0.2, seed=0)
    assert not set(train) & set(test)
    assert len(train) + len(test) == len(mnist)
    assert np.all(np.bincount(mnist.labels[test], minlength=10) > 0)
    shared_train, shared_test = split_handwriting(mnist.labels, mnist.is_test, 0.2, seed=0, shared=True)
    assert np.array_equal(shared_train, shared_test)
    # a source with its own test split keeps it
    is_test = np.zeros(len(mnist), bool)
    is_test[:100] = True
    tr, te = split_handwriting(mnist.labels, is_test, 0.2, seed=0)
    assert np.array_equal(te, np.arange(100))


def test_rendered_cells_are_digits_of_the_right_class_glyphs_and_blanks(mnist):
    spec = ArithSpec()
    q = all_queries(spec)
    bank = GlyphBank.build(spec, mnist.images[:2000], mnist.labels[:2000], seed=0)
    rng = np.random.default_rng(0)
    rows = bank.pick(q.query_tokens, rng)
    assert np.array_equal(bank.labels()[rows], q.query_tokens)
    cells = bank.render(q.query_tokens[:50], np.random.default_rng(1))
    assert cells.shape == (50, 5, 28, 28) and cells.dtype == np.uint8
    assert (cells[q.query_tokens[:50] == spec.blank] == 0).all()
    digit_rows = rows[q.query_tokens < 10]
    assert set(digit_rows.tolist()) <= set(range(2000))  # digits come from the given pool only
    assert strip(cells).shape == (50, 28, 140)


def test_whole_text_and_image_dataset_builds(mnist):
    spec = ArithSpec()
    q = all_queries(spec)
    bank = GlyphBank.build(spec, mnist.images, mnist.labels, seed=0)
    rng = np.random.default_rng(0)
    queries, answers = bank.render(q.query_tokens, rng), bank.render(q.answer_tokens, rng)
    assert queries.shape == (20_000, 5, 28, 28) and answers.shape == (20_000, 3, 28, 28)


@pytest.mark.parametrize("char", ["+", "-", "*"])
def test_drawn_glyphs_vary_and_look_like_mnist(char):
    glyphs = draw_glyphs(char, 64, np.random.default_rng(0))
    assert glyphs.shape == (64, 28, 28) and glyphs.dtype == np.uint8
    assert glyphs.max() > 200  # near-white strokes like MNIST
    assert ((glyphs > 0) & (glyphs < 200)).any()  # anti-aliased edges
    assert len({g.tobytes() for g in glyphs}) == 64  # jitter makes every one different
    ink = glyphs.astype(float).mean(0)
    if char == "-":
        assert ink[14, 4:24].mean() > 5 * ink[2:6, 12:16].mean()  # a horizontal bar, nothing above


def test_augmentation_is_seeded_and_keeps_shape():
    x = torch.rand(8, 1, 28, 28)
    a = augment_cells(x, torch.Generator().manual_seed(0))
    b = augment_cells(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b)
    assert not torch.equal(a, x)


def test_aligned_layout_puts_digits_in_place_value_columns():
    spec = ArithSpec(layout="aligned")
    q = all_queries(spec)
    assert q.query_text[0] == " 0+ 0"
    assert spec.pad_query(5, "+", 24) == " 5+24" and spec.pad_query(81, "-", 7) == "81- 7"
    assert spec.decode(q.query_tokens) == q.query_text
    assert ArithSpec(layout="left").pad_query(5, "+", 24) == "5+24 "
    with pytest.raises(GenlabError):
        ArithSpec(layout="diagonal")


def test_prototypes_are_real_images_of_each_character(mnist):
    spec = ArithSpec()
    bank = GlyphBank.build(spec, mnist.images[:1000], mnist.labels[:1000], seed=0)
    protos = bank.prototypes()
    assert protos.shape == (len(spec.vocab), 28, 28)
    rows = [int(np.flatnonzero((bank.images == p).all((1, 2)))[0]) for p in protos]
    assert list(bank.labels()[rows]) == list(range(len(spec.vocab)))  # each is an image of its own class
    assert protos[spec.blank].max() == 0


def test_three_digit_queries_with_every_operator_have_the_right_answers():
    spec = ArithSpec(999, "+-*")
    q = all_queries(spec)
    assert len(q) == 3 * 1000**2 and spec.query_len == 7 and spec.answer_len == 6
    texts = dict(zip(q.query_text, q.answer_text, strict=True))
    assert texts["999*999"].strip() == "998001" and texts["  5-999"].strip() == "-994"
    assert texts["999+999"].strip() == "1998" and texts["  0*  7"].strip() == "0"
    for i in np.random.default_rng(0).choice(len(q), 2000, replace=False):
        assert int(q.answer_text[i]) == eval(q.query_text[i].strip())


@pytest.mark.parametrize("ops", ["+-", "+-*"])
def test_every_querys_twin_swaps_its_operands_and_keeps_the_answer_exact(ops):
    spec = ArithSpec(max_int=20, ops=ops)
    q = all_queries(spec)
    twin = swapped_twins(spec)
    assert np.array_equal(twin[twin], np.arange(len(q)))  # the twin's twin is the query itself
    assert np.array_equal(q.a[twin], q.b) and np.array_equal(q.b[twin], q.a)
    assert np.array_equal(q.op[twin], q.op)
    commutes = q.op != "-"
    assert np.array_equal(q.result[twin][commutes], q.result[commutes])
    assert np.array_equal(q.result[twin][~commutes], -q.result[~commutes])
    i = q.query_text.index(spec.pad_query(17, "-", 4))
    assert q.answer_text[twin[i]].strip() == "-13"
