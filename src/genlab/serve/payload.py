"""What crosses the wire: request parameters with their caps, uploaded images, PNG data URLs.

Every limit of `genlab serve` is written here once; run summaries pass them on to the page, which
checks an upload's size before sending it, and the server enforces them whatever a client sends.
"""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from genlab.core.grid import to_uint8_nhwc

MAX_UPLOAD_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_PIXELS = 4096 * 4096  # far more than any photo of a query or a face needs
MAX_SEED = 2**31 - 1
MAX_TEXT = 64  # characters of a typed query


class HTTPError(Exception):
    """A request the server refuses: a 4xx status and a one-line message the page shows."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Request:
    """One API request as a run's action sees it: the query string's values and the body."""

    params: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    def int(self, name: str, default: int, lo: int, hi: int) -> int:
        return int(self._number(name, default, lo, hi, whole=True))

    def float(self, name: str, default: float, lo: float, hi: float) -> float:
        return self._number(name, default, lo, hi, whole=False)

    def _number(self, name: str, default: float, lo: float, hi: float, whole: bool) -> float:
        """The parameter `name` as a number in [lo, hi] (a whole one if `whole`), else a 400."""
        raw = self.params.get(name)
        if raw is None or raw.strip() == "":
            return default
        kind = "a whole number" if whole else "a number"
        try:
            value = int(raw) if whole else float(raw)
        except ValueError:
            raise HTTPError(400, f"{name} must be {kind} from {lo:g} to {hi:g}, not {raw[:20]!r}") from None
        if not lo <= value <= hi:  # also refuses nan
            what = "" if whole else "a number "  # an out-of-range whole number was at least a number
            raise HTTPError(400, f"{name} must be {what}from {lo:g} to {hi:g}, not {raw[:20]}")
        return value

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.params.get(name) or default
        if value not in choices:
            raise HTTPError(400, f"{name} must be one of {', '.join(choices)}, not {value[:20]!r}")
        return value

    def text(self, name: str, what: str) -> str:
        value = self.params.get(name, "")
        if not value.strip():
            raise HTTPError(400, f"type {what}")
        if len(value) > MAX_TEXT:
            raise HTTPError(400, f"{name} is {len(value)} characters long; {MAX_TEXT} at most")
        return value


def open_upload(body: bytes) -> Image.Image:
    """The uploaded bytes as a decoded Pillow image, upright, or an HTTPError that says what is wrong."""
    if not body:
        raise HTTPError(400, "the upload is empty: choose a PNG or JPEG image")
    if len(body) > MAX_UPLOAD_BYTES:
        raise HTTPError(
            413, f"the upload is {len(body) / 2**20:.1f} MB; {MAX_UPLOAD_BYTES // 2**20} MB at most"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            picture = Image.open(io.BytesIO(body))
            if picture.width * picture.height > MAX_UPLOAD_PIXELS:
                raise HTTPError(
                    413,
                    f"the image is {picture.width} x {picture.height} pixels; "
                    f"{MAX_UPLOAD_PIXELS:,} pixels at most",
                )
            picture.load()
            return ImageOps.exif_transpose(picture)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise HTTPError(
                413, "the image has far too many pixels (a possible decompression bomb)"
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
            raise HTTPError(415, "the upload is not an image genlab can read: use a PNG or JPEG") from None


def png_data_url(image: np.ndarray) -> str:
    """One image, uint8 or float in [0, 1], (H, W), (H, W, C) or (C, H, W) -> a data: URL of a PNG."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[-1] not in (1, 3):
        array = array.transpose(1, 2, 0)  # CHW -> HWC
    pixels = to_uint8_nhwc(array[None])[0]  # (H, W, C)
    buffer = io.BytesIO()
    Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
