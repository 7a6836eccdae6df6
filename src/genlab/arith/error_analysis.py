"""Which mistakes an arithmetic model makes, and where: tables (markdown + CSV) and figures.

Classification rules (tested on hand-checked cases):
- addition carries when the ones digits sum to 10 or more ('19+1');
- subtraction borrows when the larger operand's ones digit is smaller than the other's ('20-1');
- an answer that is not a number ('-', '1-2', blank) is "invalid"; otherwise a wrong answer is a
  "sign" error (the negated answer), "off by one", "off by ten", or "other".
"""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

import numpy as np

from genlab.arith.evaluate import evaluate_arith, format_handwriting
from genlab.arith.plots import plot_error_breakdown, plot_error_heatmaps
from genlab.arith.problem import all_queries
from genlab.arith.runs import KIND, load_config
from genlab.core.paths import atomic_write_csv, atomic_write_text
from genlab.core.rundir import RunDir

NUMBER = re.compile(r"-?\d+")
KINDS = ("off by one", "off by ten", "sign", "other", "invalid")


def has_carry(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Addition a+b carries out of the ones column."""
    return (np.asarray(a) % 10 + np.asarray(b) % 10) >= 10


def has_borrow(a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Subtraction a-b borrows: |a-b| is computed as big-small, which borrows if big's ones < small's."""
    a, b = np.asarray(a), np.asarray(b)
    big, small = np.maximum(a, b), np.minimum(a, b)
    return big % 10 < small % 10


def parse_answer(text: str) -> int | None:
    """The integer a model wrote, or None when the output is not a number."""
    text = text.strip()
    return int(text) if NUMBER.fullmatch(text) else None


def classify_error(true: int, predicted: str) -> str:
    """'correct', 'invalid', 'sign', 'off by one', 'off by ten' or 'other'."""
    value = parse_answer(predicted)
    if value is None:
        return "invalid"
    if value == true:
        return "correct"
    if true != 0 and value == -true:
        return "sign"
    diff = abs(value - true)
    return "off by one" if diff == 1 else "off by ten" if diff == 10 else "other"


def _rate_rows(groups: dict[str, np.ndarray], wrong: np.ndarray) -> list[dict[str, Any]]:
    rows = []
    for name, mask in groups.items():
        n = int(mask.sum())
        rows.append(
            {
                "group": name,
                "queries": n,
                "errors": int(wrong[mask].sum()),
                "error_rate_%": round(100 * float(wrong[mask].mean()), 3) if n else float("nan"),
            }
        )
    return rows


def _md(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def analyze_errors(run: RunDir | str) -> dict[str, Any]:
    """Write figures/errors.md, figures/errors_*.csv, errors_heatmap.png and errors_breakdown.png."""

    run = run if isinstance(run, RunDir) else RunDir.open(run, KIND)
    if not (run.path / "test_predictions.npz").exists():
        evaluate_arith(run)
    config = load_config(run)
    spec = config.spec
    q = all_queries(spec)
    with np.load(run.path / "test_predictions.npz", allow_pickle=False) as npz:
        saved = {k: npz[k] for k in npz.files}
    idx, pred_tokens = saved["idx"], saved["pred_tokens"]
    a, op, b, result = q.a[idx], q.op[idx], q.b[idx], q.result[idx]
    true_tok = q.answer_tokens[idx]
    pred_text = spec.decode(pred_tokens)
    kinds = np.array([classify_error(int(t), p) for t, p in zip(result.tolist(), pred_text, strict=False)])
    wrong = kinds != "correct"
    n, n_wrong = len(idx), int(wrong.sum())

    tables: dict[str, list[dict[str, Any]]] = {}
    tables["by_operator"] = _rate_rows({f"'{o}'": op == o for o in spec.ops}, wrong)
    groups: dict[str, np.ndarray] = {}
    if "+" in spec.ops:
        carry = has_carry(a, b)
        groups["addition with a carry"] = (op == "+") & carry
        groups["addition without a carry"] = (op == "+") & ~carry
    if "-" in spec.ops:
        borrow = has_borrow(a, b)
        groups["subtraction with a borrow"] = (op == "-") & borrow
        groups["subtraction without a borrow"] = (op == "-") & ~borrow
    tables["by_carry_borrow"] = _rate_rows(groups, wrong)
    tables["by_sign_of_result"] = _rate_rows(
        {"negative result": result < 0, "result >= 0": result >= 0}, wrong
    )
    lengths = np.array([len(str(r)) for r in result.tolist()])
    tables["by_answer_length"] = _rate_rows(
        {f"{k} characters": lengths == k for k in np.unique(lengths)}, wrong
    )
    kind_counts = Counter(kinds[wrong].tolist())
    tables["error_kinds"] = [
        {
            "kind": k,
            "errors": kind_counts.get(k, 0),
            "share_of_errors_%": round(100 * kind_counts.get(k, 0) / max(1, n_wrong), 2),
        }
        for k in KINDS
    ]
    answered = ((parse_answer(p), int(t)) for t, p in zip(result.tolist(), pred_text, strict=False))
    diffs = Counter(value - t for value, t in answered if value is not None and value != t)
    tables["numeric_error"] = [
        {"predicted_minus_true": d, "errors": c} for d, c in sorted(diffs.items(), key=lambda x: -x[1])[:15]
    ]
    invalid = Counter(p for p, k in zip(pred_text, kinds, strict=False) if k == "invalid")
    tables["invalid_outputs"] = [{"output": repr(s), "count": c} for s, c in invalid.most_common(10)]
    pos_wrong = pred_tokens != true_tok  # (N, Ta)
    tables["by_character_position"] = [
        {
            "position": f"{i + 1} of {spec.answer_len}",
            "wrong_%": round(100 * float(pos_wrong[:, i].mean()), 3),
        }
        for i in range(spec.answer_len)
    ]
    confusions = Counter(
        (spec.vocab[t], spec.vocab[p])
        for t, p in zip(true_tok[pos_wrong].tolist(), pred_tokens[pos_wrong].tolist(), strict=False)
    )
    tables["character_confusions"] = [
        {"true": repr(t), "predicted": repr(p), "count": c} for (t, p), c in confusions.most_common(10)
    ]
    answer_confusions = Counter(
        (q.answer_text[i].strip(), p.strip()) for i, p, w in zip(idx, pred_text, wrong, strict=False) if w
    )
    tables["answer_confusions"] = [
        {"true": t, "predicted": p, "count": c} for (t, p), c in answer_confusions.most_common(10)
    ]
    result_dict: dict[str, Any] = {"test_queries": n, "errors": n_wrong, "error_rate": n_wrong / max(1, n)}
    if "query_read" in saved:
        misread = (saved["query_read"] != q.query_tokens[idx]).any(-1)
        tables["misreading_vs_arithmetic"] = [
            {
                "query cells": "misread by the glyph classifier",
                "queries": int(misread.sum()),
                "errors": int(wrong[misread].sum()),
                "error_rate_%": round(100 * float(wrong[misread].mean()), 2)
                if misread.any()
                else float("nan"),
            },
            {
                "query cells": "all read correctly (errors here are arithmetic)",
                "queries": int((~misread).sum()),
                "errors": int(wrong[~misread].sum()),
                "error_rate_%": round(100 * float(wrong[~misread].mean()), 2)
                if (~misread).any()
                else float("nan"),
            },
        ]
        result_dict["errors_with_misread_query"] = int(wrong[misread].sum())
        result_dict["arithmetic_errors_on_read_queries"] = int(wrong[~misread].sum())

    evaluation_path = run.path / "evaluation.json"
    evaluation = json.loads(evaluation_path.read_text()) if evaluation_path.exists() else {}
    if "handwriting" in evaluation:  # how the answers are written, beside what they say
        result_dict["handwriting"] = evaluation["handwriting"]
        measured = {
            **evaluation["handwriting"],
            **{f"style_{k}": v for k, v in evaluation.get("style", {}).items()},
        }
        tables["handwriting"] = [
            {"measure": k, "value": v} for k, v in measured.items() if not isinstance(v, str)
        ]
    figures = run.figures_dir
    md = [f"# Error analysis: {config.task}, train fraction {config.train_frac}", ""]
    md.append(
        f"{n_wrong} wrong answers out of {n} test queries "
        f"({100 * n_wrong / max(1, n):.2f}% error, exact match).\n"
    )
    for name, rows in tables.items():
        md += [f"## {name.replace('_', ' ')}", "", _md(rows)]
        atomic_write_csv(figures / f"errors_{name}.csv", rows)
    atomic_write_text(figures / "errors.md", "\n".join(md))

    grid = np.full((len(spec.ops), spec.max_int + 1, spec.max_int + 1), np.nan)
    op_index = {o: i for i, o in enumerate(spec.ops)}
    grid[np.array([op_index[o] for o in op.tolist()], dtype=np.int64), a, b] = wrong.astype(float)
    title = f"{config.task}, train fraction {config.train_frac}"
    figs = [
        plot_error_heatmaps(figures / "errors_heatmap.png", grid, spec.ops, title),
        plot_error_breakdown(figures / "errors_breakdown.png", tables, title),
    ]
    summary = f"{config.task}: {n_wrong} errors in {n} test queries ({100 * n_wrong / max(1, n):.2f}%)"
    if n_wrong:
        top = max(KINDS, key=lambda k: kind_counts.get(k, 0))
        summary += f"; most are '{top}' ({kind_counts.get(top, 0)})"
    if "query_read" in saved:
        summary += (
            f"; {result_dict['errors_with_misread_query']} come with a misread query cell, "
            f"{result_dict['arithmetic_errors_on_read_queries']} are arithmetic errors "
            "on correctly read queries"
        )
    if "handwriting" in evaluation:
        summary += "\n" + format_handwriting(evaluation)
    result_dict.update(
        {
            "summary": summary,
            "tables": tables,
            "tables_md": str(figures / "errors.md"),
            "figures": [str(f) for f in figs],
        }
    )
    return result_dict
