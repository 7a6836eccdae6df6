"""An arithmetic run on the page: ask a typed query; for image-input runs, read a drawn (or uploaded)
query: the cells as the model read them, the glyph reader's reading of each, and the answer; for
image-output runs, the drawn answer and what the reader reads back.

The answering itself is genlab.arith.evaluate's (Answerer, read_query_image, align_cells); this
module only turns requests into its calls and its arrays into PNGs.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genlab.arith.evaluate import Answerer, read_query_image
from genlab.arith.problem import strip
from genlab.serve.payload import MAX_TEXT, MAX_UPLOAD_BYTES, HTTPError, Request, open_upload, png_data_url

INK = 0.2  # a drawing whose brightest stroke (white on black, after inversion) is fainter is empty


class ServedArithRun:
    """A trained seq2seq run, loaded once; every action holds `lock` while the models run."""

    product = "arith"

    def __init__(self, name: str, path: Path | str) -> None:
        self.name = name
        self.answerer = Answerer(path)
        spec = self.answerer.spec
        self.example = f"{min(12, spec.max_int)}{spec.ops[0]}{min(7, spec.max_int)}"
        self.lock = threading.Lock()
        self.actions = {"ask": ("GET", self.ask)}
        if self.answerer.in_image:
            self.actions["read"] = ("POST", self.read)

    def summary(self) -> dict[str, Any]:
        answerer, spec = self.answerer, self.answerer.spec
        return {
            "name": self.name,
            "product": self.product,
            "kind": answerer.run.kind,
            "task": answerer.config.task,
            "max_int": spec.max_int,
            "ops": spec.ops,
            "query_len": spec.query_len,
            "answer_len": spec.answer_len,
            "input": answerer.model.spec.input_kind,
            "output": answerer.model.spec.output_kind,
            "example": self.example,
            "features": list(self.actions),
            "limits": {"query_chars": MAX_TEXT, "upload_bytes": MAX_UPLOAD_BYTES},
        }

    # -- actions: Request -> JSON-able dict -------------------------------------------------

    def ask(self, request: Request) -> dict[str, Any]:
        """?q=12+7: the answer (and, for image runs, the handwriting it was written in, the drawn answer)."""
        query = request.text("q", f"a query such as {self.example}")
        with self.lock, torch.inference_mode():
            result = self.answerer.answer(query=query)  # a malformed query is a GenlabError: a 400
            return self._shown(result)

    def read(self, request: Request) -> dict[str, Any]:
        """POST a picture of a whole query, one character per cell: what the model read and answered."""
        open_upload(request.body)  # the size caps, and a clear message for what is not an image
        cells = read_query_image(io.BytesIO(request.body), self.answerer.spec.query_len, "the uploaded image")
        if cells.max() < INK:
            raise HTTPError(400, "nothing is written: draw a query such as 12+7, one character per cell")
        with self.lock, torch.inference_mode():
            return self._shown(self.answerer.answer(cells=cells))

    def _shown(self, result: dict[str, Any]) -> dict[str, Any]:
        """The answer as the page shows it: arrays become PNGs, each cell with the reader's reading."""
        shown = {k: v for k, v in result.items() if not isinstance(v, np.ndarray)}
        if "true_answer" in result:
            shown["correct"] = result["answer"] == result["true_answer"]
        cells = result.get("query_cells")
        if cells is not None:  # (Tq, 28, 28), the model's input, after alignment
            shown["cells"] = [png_data_url(cell) for cell in cells]
            shown["cells_read"] = list(self.answerer.read(cells))
        answer = result.get("answer_cells")
        if answer is not None:  # (Ta, 28, 28), the model's drawn answer
            shown["answer_image"] = png_data_url(strip(answer))
        return shown
