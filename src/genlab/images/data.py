"""Any image dataset as one uint8 array: named sources, folders, zips and .npy/.npz arrays.

`load_images(source, size, channels)` is the single entry point. Rules it follows, so a
user can predict what their data turns into:

- **Layout.** Always uint8 (N, size, size, C) with C = `channels` (1 or 3).
- **Non-square images** are centre-cropped to their shorter side, then resized.
- **Resampling.** Nearest-neighbour for pixel art, so hard edges stay hard: the named
  `punks` source, and any image at most 32 px on its long side with at most 64 distinct
  colours (sprites, icons). Everything else uses Pillow's LANCZOS, which antialiases.
- **Alpha** is composited onto a background (white for user images, the CryptoPunks
  blue-grey for `punks`), never dropped. Palette images with transparency, LA, CMYK and
  16-bit images are converted with their full range (16-bit is scaled, not clipped).
- **Folders** are read recursively in sorted path order; hidden files and folders
  (and `__MACOSX`) are ignored. If every image sits in a first-level subfolder and there
  are at least two of them, the subfolder names become class labels. Animated GIFs give
  their first frame. A `.zip` follows the same rules and is read in memory, never extracted.
- **Arrays** (.npy/.npz) may be NHW, NHWC or NCHW, uint8 or float; the value range
  ([0,1], [-1,1] or [0,255]) is detected. A keras-style npz (x_train, x_test, ...) is joined.
- **Bad files** inside an otherwise good folder/zip are skipped and counted with one
  warning naming a few; when nothing usable remains the load fails with a GenlabError.
- **Cache.** Results are cached under the genlab cache, keyed by a hash of the source's
  content and the parameters, and written atomically; a second load decodes nothing.
"""

from __future__ import annotations

import hashlib
import io
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from genlab.core.cache import array_digest, cache_key, load_cached, save_cached
from genlab.core.errors import GenlabError
from genlab.core.mnist import load_idx_folder, load_mnist
from genlab.core.progress import progress, say
from genlab.images.punks import DEFAULT_BACKGROUND, composite, load_punks

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
ARRAY_EXTENSIONS = (".npy", ".npz")
NAMED_SOURCES = ("mnist", "punks", "fashion-mnist")
WHITE = (255, 255, 255)
PIXEL_ART_MAX_SIDE = 32
PIXEL_ART_MAX_COLOURS = 64
MAX_ZIP_MEMBER_BYTES = 256 * 2**20  # a larger member is skipped: likely a zip bomb, never a dataset image
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
CACHE_FORMAT = 1  # bump when the decoding rules change so old cache entries are not reused


class MixedSizesError(GenlabError):
    """`size=None` on images of different sizes: the caller must choose a size."""


@dataclass
class ImageSet:
    """A dataset of images ready for training, and where it came from."""

    images: np.ndarray  # uint8 (N, size, size, C), C in {1, 3}
    labels: np.ndarray | None  # int64 (N,) class ids or uint8 (N, K) multi-label, or None
    label_names: list[str] | None
    source: str  # human description of where the data came from, printed by commands
    skipped: list[str] = field(default_factory=list)  # "file: reason" for unreadable files

    def __len__(self) -> int:
        return len(self.images)


def load_images(
    source: str | Path,
    size: int | None = None,
    channels: int = 3,
    *,
    background: tuple[int, int, int] | None = None,
) -> ImageSet:
    """Load a named source (`mnist`, `punks`, `fashion-mnist`) or a folder / .zip / .npy / .npz path.

    `size=None` keeps the native size (the images must then all share one size); otherwise
    every image becomes `size` x `size` (see the module docstring for crop and resampling).
    `background` is the colour alpha is composited onto (default: white, blue-grey for punks).
    """
    if channels not in (1, 3):
        raise GenlabError(f"channels must be 1 (grey) or 3 (RGB), not {channels}")
    if size is not None and size < 1:
        raise GenlabError(f"size must be a positive number of pixels, not {size}")
    name = str(source)
    if name in NAMED_SOURCES:  # a folder that happens to be called "mnist" is ./mnist
        return _load_named(name, size, channels, background)
    path = Path(source).expanduser()
    if not path.exists():
        raise GenlabError(
            f"{path} does not exist: give a folder of images, a .zip, a .npy/.npz array, "
            f"or one of the named sources {', '.join(NAMED_SOURCES)}"
        )
    bg = background or WHITE
    if path.is_dir():
        return _cached(_folder_reader(path), size, channels, bg)
    suffix = path.suffix.lower()
    if suffix == ".zip":
        return _cached(_zip_reader(path), size, channels, bg)
    if suffix in ARRAY_EXTENSIONS:
        return _cached(_array_reader(path), size, channels, bg)
    raise GenlabError(
        f"{path} is not a dataset: give a folder of images, a .zip of images, or a .npy/.npz array"
    )


# --------------------------------------------------------------------------- named sources


def _load_named(
    name: str, size: int | None, channels: int, background: tuple[int, int, int] | None
) -> ImageSet:
    if name == "punks":
        punks = load_punks()
        bg = background or DEFAULT_BACKGROUND
        raw, labels, label_names, description = punks.images, punks.labels, punks.attributes, punks.source

        def prepare() -> np.ndarray:  # (N, 24, 24, 4) RGBA -> (N, size, size, 3)
            return _fit_array(punks.rgb(bg), size, pixel_art=True)

    else:
        if name == "mnist":
            mnist = load_mnist()
            raw, labels, label_names, description = (
                mnist.images,
                mnist.labels,
                [str(d) for d in range(10)],
                "",
            )
            if mnist.is_test is not None:
                description = f"; {(~mnist.is_test).sum():,} train + {mnist.is_test.sum():,} test"
            description = mnist.source + description
        else:  # fashion-mnist
            raw, labels, description = _load_fashion_mnist()
            label_names = list(FASHION_MNIST_CLASSES)
        bg = WHITE

        def prepare() -> np.ndarray:  # (N, 28, 28) grey -> (N, size, size, 1)
            return _fit_array(raw[..., None], size, pixel_art=False)

    # Lanczos-resized digits are cached; the punks' nearest-neighbour resize takes well under a
    # second, not worth ~120 MB of cache per size.
    worth_caching = size is not None and name != "punks"
    key = cache_key("named", CACHE_FORMAT, name, array_digest(raw), size, list(bg)) if worth_caching else ""
    cached = load_cached("images", key) if worth_caching else None
    if cached is not None:
        images = cached["images"]
    else:
        images = prepare()
        if worth_caching:
            save_cached("images", key, {"images": images})
    return ImageSet(_to_channels(images, channels), labels, label_names, description)


def _load_fashion_mnist() -> tuple[np.ndarray, np.ndarray, str]:
    if not (FASHION_MNIST_DIR / "train-images-idx3-ubyte.gz").exists():
        raise GenlabError(
            f"fashion-mnist is not installed (looked in {FASHION_MNIST_DIR}): "
            "run `sudo apt-get install dataset-fashion-mnist`, or give its files as a folder path"
        )

    data = load_idx_folder(FASHION_MNIST_DIR)
    split = f"{(~data.is_test).sum():,} train + {data.is_test.sum():,} test"
    where = f"Fashion-MNIST from Debian's dataset-fashion-mnist ({FASHION_MNIST_DIR}); {split}"
    return data.images, data.labels, where


# --------------------------------------------------------------------------- readers
#
# A reader knows how to fingerprint a source cheaply (by content) and how to decode it.
# `_cached` checks the cache first, so a second load only hashes bytes.


@dataclass
class _Reader:
    kind: str
    path: Path
    digest: Callable[[], str]
    decode: Callable[[int | None, int, tuple[int, int, int]], ImageSet]


PATH_TOKEN = "\x00path\x00"  # the cache is keyed by content, so a moved folder must show its new path


def _cached(reader: _Reader, size: int | None, channels: int, background: tuple[int, int, int]) -> ImageSet:
    key = cache_key(reader.kind, CACHE_FORMAT, reader.digest(), size, channels, list(background))
    hit = load_cached("images", key)
    if hit is not None:
        result = ImageSet(
            hit["images"],
            hit["labels"] if "labels" in hit else None,
            [str(n) for n in hit["label_names"]] if "label_names" in hit else None,
            str(hit["source"]).replace(PATH_TOKEN, str(reader.path)),
            [str(s) for s in hit["skipped"]],
        )
    else:
        result = reader.decode(size, channels, background)
        arrays = {
            "images": result.images,
            "source": np.array(result.source.replace(str(reader.path), PATH_TOKEN)),
            "skipped": np.array(result.skipped, dtype=str),
        }
        if result.labels is not None:
            arrays["labels"] = result.labels
        if result.label_names is not None:
            arrays["label_names"] = np.array(result.label_names, dtype=str)
        save_cached("images", key, arrays)
    if result.skipped:
        _warn_skipped(reader.path, result.skipped, len(result))
    return result


def _warn_skipped(path: Path, skipped: list[str], kept: int) -> None:

    shown = "; ".join(skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
    say(f"warning: skipped {len(skipped)} unreadable file(s) in {path}, kept {kept:,}: {shown}")


def _hidden(relative: str) -> bool:
    parts = relative.replace("\\", "/").split("/")
    return any(p.startswith(".") or p == "__MACOSX" for p in parts if p)


def _is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _folder_reader(root: Path) -> _Reader:
    files = sorted(p for p in root.rglob("*") if p.is_file() and not _hidden(str(p.relative_to(root))))
    images = [p for p in files if _is_image_name(p.name)]
    if not images:
        if not files:
            raise GenlabError(f"folder {root} is empty: put images (png, jpg, bmp, gif, webp) in it")
        if any(p.name.replace(".", "-").startswith("train-images-idx3") for p in files):
            return _idx_reader(root)
        examples = ", ".join(str(p.relative_to(root)) for p in files[:3])
        raise GenlabError(
            f"folder {root} has no image files (png, jpg, jpeg, bmp, gif, webp); "
            f"it holds {len(files)} other file(s), e.g. {examples}"
        )
    names = [p.relative_to(root).as_posix() for p in images]

    def digest() -> str:
        h = hashlib.blake2b(digest_size=16)
        for name, p in zip(names, images, strict=True):
            h.update(name.encode() + b"\0")
            h.update(p.read_bytes())
        return h.hexdigest()

    def decode(size: int | None, channels: int, bg: tuple[int, int, int]) -> ImageSet:
        blobs = ((name, p.read_bytes) for name, p in zip(names, images, strict=True))
        return _decode_files(blobs, len(names), f"folder {root}", size, channels, bg)

    return _Reader("folder", root, digest, decode)


def _zip_reader(path: Path) -> _Reader:
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise GenlabError(f"{path} is not a readable zip file ({exc})") from None
    with archive:
        infos = [i for i in archive.infolist() if not i.is_dir() and not _hidden(i.filename)]
    if not infos:
        raise GenlabError(f"zip {path} is empty: it holds no files")
    members = sorted((i for i in infos if _is_image_name(i.filename)), key=lambda i: i.filename)
    if not members:
        examples = ", ".join(i.filename for i in infos[:3])
        raise GenlabError(
            f"zip {path} has no image files (png, jpg, jpeg, bmp, gif, webp); "
            f"it holds {len(infos)} other file(s), e.g. {examples}"
        )
    names = [i.filename for i in members]

    def digest() -> str:
        return _file_digest(path)

    def decode(size: int | None, channels: int, bg: tuple[int, int, int]) -> ImageSet:
        with zipfile.ZipFile(path) as archive:

            def reader(info: zipfile.ZipInfo) -> Callable[[], bytes]:
                def read() -> bytes:
                    if info.file_size > MAX_ZIP_MEMBER_BYTES:
                        raise ValueError(f"{info.file_size / 2**20:.0f} MB uncompressed, too large")
                    return archive.read(info)

                return read

            blobs = ((i.filename, reader(i)) for i in members)
            return _decode_files(blobs, len(names), f"zip {path}", size, channels, bg)

    return _Reader("zip", path, digest, decode)


def _idx_reader(root: Path) -> _Reader:
    """A folder holding MNIST-style IDX files (MNIST, Fashion-MNIST, KMNIST...), given as a path."""

    def decode(size: int | None, channels: int, bg: tuple[int, int, int]) -> ImageSet:
        data = load_idx_folder(root)
        images = _fit_array(data.images[..., None], size, pixel_art=False)
        n_classes = int(data.labels.max()) + 1
        return ImageSet(
            _to_channels(images, channels), data.labels, [str(c) for c in range(n_classes)], data.source
        )

    return _Reader("idx", root, lambda: _folder_digest(root), decode)


def _array_reader(path: Path) -> _Reader:
    def decode(size: int | None, channels: int, bg: tuple[int, int, int]) -> ImageSet:
        images, labels = _read_array_file(path)
        images = _normalise_array(images, path)  # uint8 (N, H, W, C), C in {1, 3, 4}
        if images.shape[-1] == 4:
            images = composite(images, bg)
        if size is None and images.shape[1] != images.shape[2]:
            images = _crop_array(images)
        resampled = _fit_array(images, size, pixel_art=None)
        if labels is not None and len(labels) != len(images):
            labels = None
        return ImageSet(_to_channels(resampled, channels), labels, None, f"array {path}")

    return _Reader("array", path, lambda: _file_digest(path), decode)


def _read_array_file(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "pickle" in str(exc):  # object arrays, or bytes NumPy does not recognise
            raise GenlabError(
                f"cannot read {path}: it is not a NumPy array file, or it holds Python objects, "
                "which genlab never unpickles (that could run code); save plain numeric arrays"
            ) from None
        raise GenlabError(f"cannot read {path} as a NumPy array file: {_short(exc)}") from None
    except Exception as exc:
        raise GenlabError(f"cannot read {path} as a NumPy array file: {exc}") from None
    if isinstance(loaded, np.ndarray):
        return loaded, None
    with loaded as npz:
        keys = list(npz.files)
        if not keys:
            raise GenlabError(f"{path} holds no arrays")
        try:
            if "x_train" in keys and "x_test" in keys:  # keras-style: use both splits
                images = np.concatenate([npz["x_train"], npz["x_test"]])
                labels = None
                if "y_train" in keys and "y_test" in keys:
                    labels = np.concatenate([npz["y_train"], npz["y_test"]])
                return images, _as_labels(labels)
            for name in ("images", "x", "x_train", "X", "arr_0"):
                if name in keys:
                    break
            else:
                if len(keys) != 1:
                    raise GenlabError(
                        f"{path} holds arrays {keys}: name the images 'images' (and labels 'labels')"
                    )
                name = keys[0]
            labels = next((npz[k] for k in ("labels", "y", "y_train") if k in keys), None)
            return npz[name], _as_labels(labels)
        except GenlabError:
            raise
        except Exception as exc:
            raise GenlabError(f"cannot read the arrays in {path}: {exc}") from None


def _as_labels(labels: np.ndarray | None) -> np.ndarray | None:
    if labels is None or labels.dtype.kind not in "iub":
        return None
    if labels.ndim == 1:
        return labels.astype(np.int64)
    if labels.ndim == 2:
        return labels.astype(np.uint8)
    return None


def _normalise_array(array: np.ndarray, path: Path) -> np.ndarray:
    """Any NHW / NHWC / NCHW array of uint8, ints, bools or floats -> uint8 NHWC with C in {1, 3, 4}."""
    if array.ndim == 3:
        array = array[..., None]
    if array.ndim != 4:
        raise GenlabError(
            f"{path} has shape {array.shape}: expected images as (N, H, W), (N, H, W, C) or (N, C, H, W)"
        )
    if array.shape[-1] not in (1, 3, 4) and array.shape[1] in (1, 3, 4):
        array = array.transpose(0, 2, 3, 1)  # NCHW -> NHWC
    if array.shape[-1] not in (1, 3, 4):
        raise GenlabError(f"{path} has shape {array.shape}: found no channel axis of size 1, 3 or 4")
    if len(array) == 0:
        raise GenlabError(f"{path} holds no images (shape {array.shape})")
    if array.dtype == np.uint8:
        return np.ascontiguousarray(array)
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if array.dtype.kind not in "iuf":
        raise GenlabError(f"{path} has dtype {array.dtype}: expected uint8, integers or floats")
    values = array.astype(np.float32)
    if not np.isfinite(values).all():
        raise GenlabError(f"{path} contains NaN or infinite values")
    low, high = float(values.min()), float(values.max())
    eps = 1e-3
    if array.dtype.kind == "f" and low >= -1 - eps and high <= 1 + eps:
        if low < -eps:  # [-1, 1], the range tanh generators produce
            values = (values + 1) / 2
        values = values * 255
    elif array.dtype.kind in "iu" and low >= 0 and high <= 1:
        values = values * 255  # integer 0/1 masks
    elif low >= 0 and high <= 255 + eps:
        pass
    elif array.dtype == np.uint16 or (low >= 0 and high <= 65535):
        values = values / 257  # 16-bit
    else:
        raise GenlabError(
            f"{path} has values in {low:g}..{high:g}: expected [0, 1], [-1, 1], [0, 255] or 16-bit"
        )
    return np.rint(np.clip(values, 0, 255)).astype(np.uint8)


# --------------------------------------------------------------------------- decoding files


def _decode_files(
    blobs: Iterator[tuple[str, Callable[[], bytes]]],
    total: int,
    where: str,
    size: int | None,
    channels: int,
    background: tuple[int, int, int],
) -> ImageSet:
    """Decode every file into uint8 (N, S, S, C), skipping (and naming) the unreadable ones."""

    out: list[np.ndarray] = []
    kept: list[str] = []
    skipped: list[str] = []
    for name, read in progress(blobs, total=total, desc=f"decoding {total} images"):
        try:
            image = _decode_one(read(), channels, background, size)
        except _Unreadable as exc:
            skipped.append(f"{name}: {exc}")
            continue
        except (OSError, ValueError, RuntimeError, zipfile.BadZipFile) as exc:
            skipped.append(f"{name}: {_short(exc)}")
            continue
        image = _fit_image(image, size)
        if size is None and out and image.shape != out[0].shape:
            raise MixedSizesError(
                f"images in {where} have different sizes ({kept[0]} is {out[0].shape[1]} px, "
                f"{name} is {image.shape[1]} px): pass a size (--size) to resize them all"
            )
        out.append(image)
        kept.append(name)
    if not out:
        shown = "; ".join(skipped[:3]) + ("; ..." if len(skipped) > 3 else "")
        raise GenlabError(f"none of the {total} image file(s) in {where} could be read: {shown}")
    images = np.stack(out)  # (N, S, S, C)
    labels, label_names = _folder_labels(kept)
    source = f"{where}, {len(out):,} images" + (f", {len(skipped)} skipped" if skipped else "")
    return ImageSet(images, labels, label_names, source, skipped)


class _Unreadable(Exception):
    """A file genlab cannot use, with a short reason for the skip list."""


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__


def _decode_one(
    data: bytes, channels: int, background: tuple[int, int, int], size: int | None = None
) -> np.ndarray:
    """Bytes of one image file -> uint8 (H, W, C): alpha composited, 16-bit scaled, palette expanded.

    With a target `size`, JPEGs are decoded at a reduced scale still >= size (Pillow's draft
    mode), which makes big photos many times faster to load and changes nothing visible.
    """

    if not data:
        raise _Unreadable("empty file (0 bytes)")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            picture = Image.open(io.BytesIO(data))
            if size is not None and picture.format == "JPEG":
                picture.draft(picture.mode, (size, size))
            picture.load()
            if picture.getexif().get(0x0112, 1) != 1:  # EXIF orientation: camera photos stand upright
                picture = ImageOps.exif_transpose(picture)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _Unreadable(
                f"too many pixels, refused as a possible decompression bomb ({_short(exc)})"
            ) from None
        except UnidentifiedImageError:
            raise _Unreadable("not an image Pillow can read (corrupt, or not really an image)") from None
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            raise _Unreadable(f"damaged image ({_short(exc)})") from None
    mode = picture.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(picture).astype(np.float64)
        if mode.startswith("I;16") or values.max() > 255:
            values = values / 257
        grey = np.rint(np.clip(values, 0, 255)).astype(np.uint8)
        array = grey[..., None]  # (H, W, 1)
    else:
        has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
            mode in ("P", "L", "RGB") and "transparency" in picture.info
        )
        if has_alpha:
            array = composite(np.asarray(picture.convert("RGBA")), background)  # (H, W, 3)
        elif mode in ("1", "L"):
            array = np.asarray(picture.convert("L"))[..., None]
        else:
            array = np.asarray(picture.convert("RGB"))  # palette, CMYK, YCbCr, ...
    return _to_channels(array[None], channels)[0]


def _fit_image(image: np.ndarray, size: int | None) -> np.ndarray:
    """Centre-crop uint8 (H, W, C) to a square and resize it to `size` (pixel art: nearest)."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    image = image[top : top + side, left : left + side]
    if size is None or side == size:
        return np.ascontiguousarray(image)

    nearest = _is_pixel_art(image)
    picture = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    resized = picture.resize((size, size), Image.NEAREST if nearest else Image.LANCZOS)
    array = np.asarray(resized)
    return array[..., None] if array.ndim == 2 else array


def _is_pixel_art(image: np.ndarray) -> bool:
    """Small (<= 32 px) images with few colours are sprites: resize them without blurring."""
    if max(image.shape[:2]) > PIXEL_ART_MAX_SIDE:
        return False
    flat = image.reshape(-1, image.shape[-1]).astype(np.uint32)
    packed = flat[:, 0] if flat.shape[1] == 1 else (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    return len(np.unique(packed)) <= PIXEL_ART_MAX_COLOURS


# --------------------------------------------------------------------------- arrays


def _crop_array(images: np.ndarray) -> np.ndarray:
    """Centre-crop uint8 (N, H, W, C) to (N, S, S, C) with S = min(H, W)."""
    h, w = images.shape[1:3]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return images[:, top : top + side, left : left + side]


def _fit_array(images: np.ndarray, size: int | None, pixel_art: bool | None) -> np.ndarray:
    """Resize a uniform uint8 (N, H, W, C) batch to (N, size, size, C).

    `pixel_art=True` uses vectorized nearest-neighbour indexing; False uses LANCZOS per image
    (a one-off cost the cache pays once); None decides per image like files do.
    """
    images = _crop_array(images)
    if size is None or images.shape[1] == size:
        return np.ascontiguousarray(images)
    if pixel_art:
        index = pixel_art_enlarge_index(size, images.shape[1])
        return np.take(np.take(images, index, axis=1), index, axis=2)  # faster than fancy indexing

    out = np.empty((len(images), size, size, images.shape[-1]), np.uint8)
    for i in progress(range(len(images)), total=len(images), desc=f"resizing to {size}x{size}"):
        if pixel_art is None and _is_pixel_art(images[i]):
            out[i] = _fit_image(images[i], size)
            continue
        picture = Image.fromarray(images[i, ..., 0] if images.shape[-1] == 1 else images[i])
        resized = np.asarray(picture.resize((size, size), Image.LANCZOS))
        out[i] = resized[..., None] if resized.ndim == 2 else resized
    return out


def pixel_art_enlarge_index(size: int, native: int) -> np.ndarray:
    """For pixel art resized from native to size pixels by `_fit_array`: the source pixel each of the
    size pixels copies (its nearest)."""
    return ((np.arange(size) + 0.5) * native / size).astype(np.int64)


def pixel_art_source_index(size: int, native: int) -> np.ndarray:
    """For pixel art enlarged from native to size >= native pixels by `_fit_array`'s nearest
    indexing: one enlarged pixel index per source pixel, inside the block copied from it."""
    return np.floor((np.arange(native) + 0.5) * size / native).astype(np.int64)


def _to_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 (N, H, W, 1|3) -> (N, H, W, channels): grey is replicated, RGB uses ITU-R 601 luma."""
    have = images.shape[-1]
    if have == channels:
        return images
    if channels == 3:
        return np.ascontiguousarray(np.repeat(images, 3, axis=-1))
    weights = np.array([0.299, 0.587, 0.114], np.float32)  # the weights Pillow's convert("L") uses
    return np.rint(images.astype(np.float32) @ weights).astype(np.uint8)[..., None]


def _folder_labels(names: list[str]) -> tuple[np.ndarray | None, list[str] | None]:
    """Class labels from first-level subfolders (ImageFolder style), when every image has one.

    A folder shared by every file (a zip holding `dataset/cats/...`) is skipped first.
    """
    while names and all("/" in n for n in names) and len({n.split("/")[0] for n in names}) == 1:
        names = [n.split("/", 1)[1] for n in names]
    parents = [n.split("/")[0] if "/" in n else None for n in names]
    classes = sorted({p for p in parents if p is not None})
    if None in parents or len(classes) < 2:
        return None, None
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[p] for p in parents], np.int64), classes


# --------------------------------------------------------------------------- hashing


def _file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def _folder_digest(root: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in sorted(root.rglob("*")):
        if p.is_file() and not _hidden(str(p.relative_to(root))):
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + bytes.fromhex(_file_digest(p)))
    return h.hexdigest()
