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
# # Teach an RNN to add
#
# An encoder-decoder recurrent network reads a query such as `81+24` one character at a time
# and writes the answer `105`, also one character at a time. It is never told what `+` means:
# it sees a fraction of the 20,000 queries `a+b` and `a-b` for 0 <= a, b <= 99 and must answer
# the others. How small can that fraction be?
#
# This notebook trains two text-to-text models, on 50% and on 10% of the queries, measures
# both on queries they never saw, and looks at where the mistakes are.

# %% [markdown]
# ## Install

# %%
# %pip install "genlab[notebooks]"

# %%
import os
from pathlib import Path

from genlab.arith.config import ArithConfig
from genlab.arith.error_analysis import analyze_errors
from genlab.arith.evaluate import ask_arith, evaluate_arith
from genlab.arith.train import train_arith

# GENLAB_EXAMPLE_TINY=1: a few steps of a tiny model, so the test suite can run the whole notebook
TINY = os.environ.get("GENLAB_EXAMPLE_TINY") == "1"
RUNS = Path("runs/examples/add")
FRACTIONS = (0.05, 0.02) if TINY else (0.5, 0.1)  # of the 20,000 queries


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
# ## Train at two train fractions
#
# `ArithConfig.for_task` gives the defaults tuned for the task (here: two GRU encoder layers,
# attention, the answer written units digit first, strong weight decay); any option can be
# overridden. With the defaults each run takes about three minutes on a laptop CPU.

# %%
runs = {}
for frac in FRACTIONS:
    config = ArithConfig.for_task(
        "text2text",
        train_frac=frac,
        steps=8 if TINY else None,
        hidden=32 if TINY else None,
        embed_dim=16 if TINY else None,
        eval_every=8 if TINY else None,
    )
    out = RUNS / f"t2t-{frac}"
    runs[frac] = train_arith(config, out, resume=(out / "state.pt").exists())

# %% [markdown]
# ## Evaluate on unseen queries
#
# Accuracy is exact match: the whole answer right. The test queries were never trained on and
# never chose a checkpoint.

# %%
results = {frac: evaluate_arith(run) for frac, run in runs.items()}
for frac, result in results.items():
    print(
        f"train on {frac:.0%} of the queries: {result['accuracy']:.2%} exact match, "
        f"{result['char_accuracy']:.2%} of characters, on {result['test_queries']:,} unseen queries"
    )
show(results[FRACTIONS[-1]]["examples_figure"])

# %%
answer = ask_arith(runs[FRACTIONS[0]], "81+24")
print(f"{answer['query']} = {answer['answer']}")

# %% [markdown]
# ## Where are the mistakes?
#
# The error analysis splits the test queries by operator, by carry and borrow, by the sign and
# length of the answer and by the position of the wrong character.

# %%
errors = analyze_errors(runs[FRACTIONS[-1]])
print(errors["summary"])
for figure in errors["figures"]:
    show(figure)

# %% [markdown]
# ## Next
#
# - The same from a shell: `genlab arith train --task text2text --train-frac 0.1 --out runs/t2t`.
# - Handwritten queries and answers: `--task img2text`, `text2img`, `img2img`.
# - `genlab arith export runs/t2t` writes the whole answerer (greedy decoding inside) as a
#   torch.export program for programs without genlab.
