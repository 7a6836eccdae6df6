"""load_images on small real files made here: every format, mode, layout and bad input."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import genlab.images.data as images_module
from genlab.core.errors import GenlabError
from genlab.core.paths import cache_dir
from genlab.images.data import ImageSet, load_images

# --------------------------------------------------------------------------- helpers


def solid(colour, size=(8, 8), mode="RGB") -> Image.Image:
    return Image.new(mode, size, colour)


def save(picture: Image.Image, path: Path, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.save(path, **kwargs)
    return path


def noise_folder(root: Path, n: int, seed: int, side: int = 12) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(root / f"{i:04}.png")
    return root


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def bomb_png(side: int) -> bytes:
    """A tiny PNG whose header claims side x side pixels: Pillow refuses it on open."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit grey
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + png_chunk(b"IEND", b"")
    )


def png_bytes(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return buffer.getvalue()


def cache_files() -> set[Path]:
    return set((cache_dir() / "images").glob("*")) if (cache_dir() / "images").exists() else set()


@pytest.fixture
def loud(monkeypatch):
    """Status lines on (another test may have run the CLI with --quiet)."""
    import genlab.core.progress as progress

    monkeypatch.setattr(progress, "_QUIET", False)


# --------------------------------------------------------------------------- folders and modes


def test_folder_of_pngs_keeps_pixels_exactly(tmp_path):
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    for i, colour in enumerate(colours):
        save(solid(colour), tmp_path / f"{i}.png")
    data = load_images(tmp_path)
    assert isinstance(data, ImageSet)
    assert data.images.shape == (3, 8, 8, 3) and data.images.dtype == np.uint8
    assert [tuple(img[0, 0]) for img in data.images] == colours
    assert data.labels is None and data.skipped == []
    assert str(tmp_path) in data.source and "3 images" in data.source


def test_every_extension_and_mode_is_read_with_its_colours(tmp_path):
    red = (204, 51, 0)  # web-safe, so GIF and palette conversions keep it exactly
    save(solid(red), tmp_path / "a.jpg", quality=95)
    save(solid(red), tmp_path / "b.jpeg", quality=95)
    save(solid(red), tmp_path / "c.bmp")
    save(solid(red), tmp_path / "d.gif")
    save(solid(red), tmp_path / "e.webp", lossless=True)
    save(solid(red).convert("P"), tmp_path / "f_palette.png")
    save(solid((0, 255, 255, 0), mode="CMYK"), tmp_path / "g_cmyk.jpg", quality=95)  # CMYK red
    data = load_images(tmp_path)
    assert len(data) == 7 and data.skipped == []
    got = data.images[:, 4, 4].astype(int)
    for row in got[:6]:
        assert np.abs(row - red).max() <= 8, row
    assert np.abs(got[6] - (255, 0, 0)).max() <= 8, got[6]


def test_alpha_is_composited_onto_white_not_dropped(tmp_path):
    save(solid((0, 0, 0, 0), mode="RGBA"), tmp_path / "a_transparent.png")
    save(solid((0, 0, 0, 128), mode="RGBA"), tmp_path / "b_half.png")
    save(solid((0, 128), mode="LA"), tmp_path / "c_la_half.png")
    palette = solid((10, 20, 30)).convert("P")
    save(palette, tmp_path / "d_palette_transparent.png", transparency=palette.getpixel((0, 0)))
    data = load_images(tmp_path)
    pixels = data.images[:, 0, 0].astype(int)
    assert tuple(pixels[0]) == (255, 255, 255)  # fully transparent black -> the background
    assert np.all(np.abs(pixels[1] - 127) <= 1) and np.all(np.abs(pixels[2] - 127) <= 1)
    assert tuple(pixels[3]) == (255, 255, 255)
    on_grey = load_images(tmp_path, background=(100, 100, 100))
    assert tuple(on_grey.images[0, 0, 0]) == (100, 100, 100)


def test_sixteen_bit_and_one_bit_images_keep_their_range(tmp_path):
    ramp = np.array([[0, 257 * 128, 65535, 65535]] * 4, np.uint16)  # black, mid, white x2
    save(Image.fromarray(ramp), tmp_path / "a16.png")
    save(Image.fromarray(np.eye(4, dtype=bool)), tmp_path / "b1.png")
    data = load_images(tmp_path, channels=1)
    assert data.images.shape == (2, 4, 4, 1)
    assert data.images[0, 0, :, 0].tolist() == [0, 128, 255, 255]  # scaled, not clipped to 255
    assert data.images[1, :, :, 0].tolist() == (np.eye(4) * 255).astype(int).tolist()


def test_sixteen_bit_rgba_png_is_composited(tmp_path):
    rgba = np.zeros((4, 4, 4), np.uint16)
    rgba[..., 0], rgba[..., 1], rgba[..., 3] = 65535, 257 * 128, 65535
    rgba[0, 0, 3] = 0  # one transparent pixel
    rows = b"".join(b"\0" + rgba[r].astype(">u2").tobytes() for r in range(4))
    header = struct.pack(">IIBBBBB", 4, 4, 16, 6, 0, 0, 0)  # 16-bit RGBA
    png = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", zlib.compress(rows))
    (tmp_path / "deep.png").write_bytes(png + png_chunk(b"IEND", b""))
    data = load_images(tmp_path)
    assert tuple(data.images[0, 0, 0]) == (255, 255, 255) and tuple(data.images[0, 1, 1]) == (255, 128, 0)


def test_big_jpegs_are_decoded_at_a_reduced_scale_with_the_same_look(tmp_path):
    gradient = np.linspace(0, 255, 800, dtype=np.float32)
    photo = np.stack([np.add.outer(gradient, gradient) / 2] * 3, -1).astype(np.uint8)  # (800, 800, 3)
    save(Image.fromarray(photo), tmp_path / "big.jpg", quality=95)
    small = load_images(tmp_path, size=50).images[0].astype(int)
    expected = np.asarray(Image.fromarray(photo).resize((50, 50), Image.LANCZOS)).astype(int)
    assert small.shape == (50, 50, 3) and np.abs(small - expected).mean() < 3


def test_channels_grey_to_rgb_replicates_and_rgb_to_grey_uses_luma(tmp_path):
    save(solid(77, mode="L"), tmp_path / "grey.png")
    save(solid((255, 0, 0)), tmp_path / "red.png")
    rgb = load_images(tmp_path, channels=3).images
    assert rgb.shape == (2, 8, 8, 3) and tuple(rgb[0, 0, 0]) == (77, 77, 77)
    grey = load_images(tmp_path, channels=1).images
    assert grey.shape == (2, 8, 8, 1)
    assert grey[0, 0, 0, 0] == 77 and grey[1, 0, 0, 0] == round(0.299 * 255)


def test_non_square_images_are_centre_cropped(tmp_path):
    wide = np.zeros((10, 20, 3), np.uint8)
    wide[:, :5] = (255, 0, 0)
    wide[:, 5:15] = (0, 255, 0)
    wide[:, 15:] = (0, 0, 255)
    save(Image.fromarray(wide), tmp_path / "wide.png")
    data = load_images(tmp_path)
    assert data.images.shape == (1, 10, 10, 3)
    assert np.all(data.images[0] == (0, 255, 0))


def test_pixel_art_resizes_with_nearest_and_photos_with_antialiasing(tmp_path):
    checker = (np.indices((4, 4)).sum(0) % 2 * 255).astype(np.uint8)
    save(Image.fromarray(checker), tmp_path / "sprite" / "checker.png")
    sprite = load_images(tmp_path / "sprite", size=8, channels=1).images[0, ..., 0]
    assert set(np.unique(sprite).tolist()) == {0, 255}  # hard edges stay hard
    assert np.array_equal(sprite, np.kron(checker, np.ones((2, 2), np.uint8)))

    rng = np.random.default_rng(1)
    photo = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    save(Image.fromarray(photo), tmp_path / "photo" / "noise.png")
    small = load_images(tmp_path / "photo", size=16).images[0].astype(float)
    assert small.shape == (16, 16, 3)
    assert small.std() < photo.std() / 2  # averaged over neighbours, not sampled
    assert abs(small.mean() - photo.mean()) < 5


def test_different_sizes_need_a_size(tmp_path):
    save(solid((1, 2, 3), size=(8, 8)), tmp_path / "a.png")
    save(solid((1, 2, 3), size=(16, 16)), tmp_path / "b.png")
    with pytest.raises(GenlabError, match=r"different sizes .*a\.png is 8 px.*b\.png is 16 px.*--size"):
        load_images(tmp_path)
    assert load_images(tmp_path, size=12).images.shape == (2, 12, 12, 3)


def test_subfolders_become_class_labels_and_hidden_files_are_ignored(tmp_path):
    for cls, colour in (("cats", (255, 0, 0)), ("dogs", (0, 0, 255))):
        for i in range(2):
            save(solid(colour), tmp_path / cls / f"{i}.png")
    (tmp_path / ".thumbs").mkdir()
    (tmp_path / ".thumbs" / "x.png").write_bytes(b"junk")
    (tmp_path / "cats" / "._0.png").write_bytes(b"mac resource fork")
    data = load_images(tmp_path)
    assert data.label_names == ["cats", "dogs"]
    assert data.labels.tolist() == [0, 0, 1, 1] and data.labels.dtype == np.int64
    assert data.skipped == []


def test_nested_files_without_class_layout_have_no_labels(tmp_path):
    save(solid((1, 2, 3)), tmp_path / "top.png")
    save(solid((1, 2, 3)), tmp_path / "deep" / "er" / "x.png")
    data = load_images(tmp_path)
    assert len(data) == 2 and data.labels is None


# --------------------------------------------------------------------------- zips


def test_zip_is_read_in_memory_like_a_folder(tmp_path):
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("set/a/0.png", png_bytes(solid((255, 0, 0))))
        zf.writestr("set/b/0.png", png_bytes(solid((0, 255, 0))))
        zf.writestr("__MACOSX/set/a/._0.png", b"resource fork")
        zf.writestr("set/readme.txt", "not an image")
    before = set(tmp_path.iterdir())
    data = load_images(archive, size=4)
    assert set(tmp_path.iterdir()) == before  # nothing extracted
    assert data.images.shape == (2, 4, 4, 3)
    assert tuple(data.images[1, 0, 0]) == (0, 255, 0)
    assert data.label_names == ["a", "b"] and data.labels.tolist() == [0, 1]  # "set/" is shared
    assert "zip" in data.source and str(archive) in data.source


def test_zip_with_bad_member_skips_it_and_names_it(tmp_path, loud, capsys):
    archive = tmp_path / "set.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("good.png", png_bytes(solid((9, 9, 9))))
        zf.writestr("bad.png", b"this is text")
    data = load_images(archive)
    assert len(data) == 1 and data.skipped[0].startswith("bad.png:")
    assert "skipped 1 unreadable file(s)" in capsys.readouterr().err


# --------------------------------------------------------------------------- arrays


def test_npy_layouts_and_value_ranges_are_detected(tmp_path):
    rng = np.random.default_rng(2)
    base = rng.integers(0, 256, (5, 6, 6, 3), dtype=np.uint8)
    np.save(tmp_path / "nhwc.npy", base)
    np.save(tmp_path / "nchw01.npy", base.transpose(0, 3, 1, 2).astype(np.float32) / 255)
    np.save(tmp_path / "nhwc_pm1.npy", base.astype(np.float64) / 127.5 - 1)
    for name in ("nhwc.npy", "nchw01.npy", "nhwc_pm1.npy"):
        data = load_images(tmp_path / name)
        assert data.images.shape == (5, 6, 6, 3) and data.images.dtype == np.uint8
        assert np.abs(data.images.astype(int) - base).max() <= 1, name
        assert "array" in data.source and name in data.source
    np.save(tmp_path / "grey.npy", base[..., 0])
    grey = load_images(tmp_path / "grey.npy", channels=1)
    assert np.array_equal(grey.images[..., 0], base[..., 0])


def test_integer_zero_one_masks_become_black_and_white(tmp_path):
    np.save(tmp_path / "masks.npy", np.eye(4, dtype=np.int64)[None].repeat(2, 0))
    data = load_images(tmp_path / "masks.npy", channels=1)
    assert data.images[0, ..., 0].tolist() == (np.eye(4) * 255).astype(int).tolist()


def test_exif_orientation_is_applied(tmp_path):
    tall = np.zeros((24, 16, 3), np.uint8)
    tall[:6] = 255  # white top band
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    save(Image.fromarray(tall), tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=100)
    data = load_images(tmp_path)  # displayed 24 wide x 16 tall: the band is on the right
    assert data.images.shape == (1, 16, 16, 3)
    assert data.images[0, :, -1].mean() > 200 and data.images[0, :, 0].mean() < 60  # white is now right


def test_rgba_array_is_composited_and_resized(tmp_path):
    rgba = np.zeros((2, 4, 4, 4), np.uint8)  # transparent black
    np.save(tmp_path / "rgba.npy", rgba)
    data = load_images(tmp_path / "rgba.npy", size=8)
    assert data.images.shape == (2, 8, 8, 3) and np.all(data.images == 255)


def test_npz_with_labels_and_keras_layout(tmp_path):
    x = np.arange(4 * 8 * 8, dtype=np.uint8).reshape(4, 8, 8)
    np.savez(tmp_path / "named.npz", images=x, labels=np.array([0, 1, 1, 0]))
    data = load_images(tmp_path / "named.npz", channels=1)
    assert data.labels.tolist() == [0, 1, 1, 0] and data.images.shape == (4, 8, 8, 1)
    np.savez(tmp_path / "keras.npz", x_train=x[:3], y_train=np.arange(3), x_test=x[3:], y_test=[9])
    keras = load_images(tmp_path / "keras.npz")
    assert len(keras) == 4 and keras.labels.tolist() == [0, 1, 2, 9]
    np.savez(tmp_path / "two.npz", a=x, b=x)
    with pytest.raises(GenlabError, match=r"holds arrays \['a', 'b'\].*'images'"):
        load_images(tmp_path / "two.npz")


# --------------------------------------------------------------------------- cache


def test_second_load_decodes_nothing_and_changed_content_decodes_again(tmp_path, monkeypatch):
    noise_folder(tmp_path, 6, seed=12345)
    calls = []
    real = images_module._decode_one
    monkeypatch.setattr(images_module, "_decode_one", lambda *a: calls.append(1) or real(*a))
    first = load_images(tmp_path, size=8)
    assert len(calls) == 6
    second = load_images(tmp_path, size=8)
    assert len(calls) == 6 and np.array_equal(first.images, second.images)
    assert second.source == first.source
    load_images(tmp_path, size=10)  # other parameters: another entry
    assert len(calls) == 12
    save(solid((1, 1, 1), size=(12, 12)), tmp_path / "0000.png")  # same name, new content
    changed = load_images(tmp_path, size=8)
    assert len(calls) == 18 and np.all(changed.images[0] == 1)


def test_a_moved_folder_reuses_the_cache_and_names_its_new_place(tmp_path, monkeypatch):
    noise_folder(tmp_path / "before", 3, seed=4242)
    load_images(tmp_path / "before")
    (tmp_path / "before").rename(tmp_path / "after")
    monkeypatch.setattr(images_module, "_decode_one", None)  # a decode would fail: must come from cache
    moved = load_images(tmp_path / "after")
    assert str(tmp_path / "after") in moved.source and "before" not in moved.source


def test_a_crash_while_writing_the_cache_leaves_no_entry(tmp_path, monkeypatch):
    noise_folder(tmp_path, 3, seed=777)
    before = cache_files()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        load_images(tmp_path, size=5)
    after = cache_files()
    assert after == before, after - before  # neither an entry nor a temp file
    monkeypatch.undo()
    assert load_images(tmp_path, size=5).images.shape == (3, 5, 5, 3)


# --------------------------------------------------------------------------- bad input


def test_missing_path(tmp_path):
    with pytest.raises(GenlabError, match=r"no-such-dir does not exist: give a folder of images"):
        load_images(tmp_path / "no-such-dir")


def test_empty_folder(tmp_path):
    with pytest.raises(GenlabError, match=r"folder .* is empty"):
        load_images(tmp_path)


def test_folder_with_no_images_names_what_it_found(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(GenlabError, match=r"has no image files .* 1 other file\(s\), e\.g\. notes\.txt"):
        load_images(tmp_path)


def test_bad_files_in_a_good_folder_are_skipped_with_one_warning(tmp_path, loud, capsys):
    noise_folder(tmp_path, 4, seed=3)
    good = png_bytes(solid((5, 6, 7), size=(12, 12)))
    (tmp_path / "zero.png").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("I am not a JPEG")
    (tmp_path / "corrupt.png").write_bytes(good[:8] + bytes(range(256)) * 4)
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    before = cache_files()
    data = load_images(tmp_path)
    assert len(data) == 4
    reasons = dict(s.split(": ", 1) for s in data.skipped)
    assert sorted(reasons) == ["corrupt.png", "text.jpg", "truncated.png", "zero.png"]
    assert "empty file" in reasons["zero.png"]
    assert "not an image" in reasons["text.jpg"]
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "skipped 4 unreadable file(s)" in err and "kept 4" in err
    assert len(cache_files() - before) == 1  # one complete entry


def test_folder_where_nothing_is_readable_fails_naming_the_files(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.png").write_text("text")
    before = cache_files()
    with pytest.raises(GenlabError, match=r"none of the 2 image file\(s\) in folder .*a\.png: empty file"):
        load_images(tmp_path)
    assert cache_files() == before


def test_decompression_bombs_are_refused_by_name(tmp_path, loud, capsys):
    noise_folder(tmp_path, 2, seed=4)
    (tmp_path / "bomb.png").write_bytes(bomb_png(30_000))  # 900 Mpx: Pillow's error
    (tmp_path / "bomb_warn.png").write_bytes(bomb_png(10_000))  # 100 Mpx: Pillow only warns
    data = load_images(tmp_path)
    assert len(data) == 2
    reasons = dict(s.split(": ", 1) for s in data.skipped)
    assert "decompression bomb" in reasons["bomb.png"] and "decompression bomb" in reasons["bomb_warn.png"]
    alone = tmp_path / "alone"
    alone.mkdir()
    (alone / "bomb.png").write_bytes(bomb_png(30_000))
    with pytest.raises(GenlabError, match=r"bomb\.png: too many pixels"):
        load_images(alone)


def test_unreadable_npy(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"definitely not numpy")
    with pytest.raises(GenlabError, match=r"cannot read .*junk\.npy"):
        load_images(tmp_path / "junk.npy")


def test_truncated_npy_and_junk_npz(tmp_path):
    np.save(tmp_path / "whole.npy", np.zeros((10, 8, 8, 3), np.uint8))
    raw = (tmp_path / "whole.npy").read_bytes()
    (tmp_path / "cut.npy").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(
        GenlabError, match=r"cannot read .*cut\.npy as a NumPy array file: Failed to read all"
    ):
        load_images(tmp_path / "cut.npy")
    (tmp_path / "junk.npz").write_bytes(b"garbage")
    with pytest.raises(GenlabError, match=r"junk\.npz: it is not a NumPy array file"):
        load_images(tmp_path / "junk.npz")


def test_object_npy_is_refused_without_unpickling(tmp_path):
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(GenlabError, match=r"objects\.npy.*never unpickles"):
        load_images(tmp_path / "objects.npy")


@pytest.mark.parametrize("shape", [(10,), (2, 3, 4, 5, 6), (2, 8, 8, 7)])
def test_wrong_rank_or_channels_npy(tmp_path, shape):
    np.save(tmp_path / "bad.npy", np.zeros(shape, np.uint8))
    with pytest.raises(GenlabError, match=r"bad\.npy has shape"):
        load_images(tmp_path / "bad.npy")


def test_array_with_unknown_value_range(tmp_path):
    np.save(tmp_path / "wild.npy", np.full((2, 4, 4), -500.0))
    with pytest.raises(GenlabError, match=r"wild\.npy has values in -500\.\.-500"):
        load_images(tmp_path / "wild.npy")


def test_empty_zip(tmp_path):
    zipfile.ZipFile(tmp_path / "empty.zip", "w").close()
    with pytest.raises(GenlabError, match=r"zip .*empty\.zip is empty"):
        load_images(tmp_path / "empty.zip")


def test_zip_with_no_images(tmp_path):
    with zipfile.ZipFile(tmp_path / "docs.zip", "w") as zf:
        zf.writestr("readme.md", "# hi")
    with pytest.raises(GenlabError, match=r"docs\.zip has no image files .*readme\.md"):
        load_images(tmp_path / "docs.zip")


def test_file_that_is_not_a_zip(tmp_path):
    (tmp_path / "fake.zip").write_text("PK? no")
    with pytest.raises(GenlabError, match=r"fake\.zip is not a readable zip file"):
        load_images(tmp_path / "fake.zip")


def test_unsupported_file_and_bad_parameters(tmp_path):
    save(solid((1, 2, 3)), tmp_path / "one.png")
    with pytest.raises(GenlabError, match=r"one\.png is not a dataset: give a folder"):
        load_images(tmp_path / "one.png")
    with pytest.raises(GenlabError, match="channels must be 1"):
        load_images(tmp_path, channels=4)
    with pytest.raises(GenlabError, match="size must be a positive"):
        load_images(tmp_path, size=0)
