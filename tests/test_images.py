"""Tests of purenet.images: the MNIST convention applied to the user's own pictures."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

import purenet as pn
from purenet.data.images import BOX, load_images, read_gray, to_mnist
from purenet.errors import DataFormatError, MissingExtraError

MIDDLE = 13.5  # the geometric centre of a 28x28 field in pixel-index coordinates


def draw_one(height: int = 240, width: int = 180) -> np.ndarray:
    """A dark "1" (a slanted stroke with a flag) near the top-right corner of light paper."""
    page = np.full((height, width), 235, dtype=np.uint8)
    for row in range(20, 120):
        col = 150 - (row - 20) // 8
        page[row, col - 4 : col + 4] = 25
    page[20:28, 125:150] = 25
    return page


def ink_box(image: np.ndarray) -> tuple[int, int]:
    rows = np.flatnonzero(image.any(axis=1))
    cols = np.flatnonzero(image.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


def test_dark_on_light_one_off_centre_comes_out_light_on_dark_and_centred() -> None:
    digit = to_mnist(draw_one())
    assert digit.shape == (28, 28)
    assert digit.dtype == np.uint8
    # Light ink on black: the border is black, the stroke is bright.
    assert digit[0].max() == 0 and digit[-1].max() == 0
    assert digit.max() == 255
    com = ndimage.center_of_mass(digit.astype(np.float64))
    assert abs(com[0] - MIDDLE) <= 1 and abs(com[1] - MIDDLE) <= 1
    # More exactly, at pixel (14, 14) like MNIST's own digits, to within the whole-pixel shift.
    assert abs(com[0] - 14) <= 0.5 and abs(com[1] - 14) <= 0.5
    # The longer side of the ink (here its height) fills the 20-pixel box.
    height, width = ink_box(digit)
    assert height == BOX
    assert width < height


def test_light_on_dark_input_is_not_inverted() -> None:
    dark_on_light = draw_one()
    light_on_dark = 255 - dark_on_light
    assert np.array_equal(to_mnist(light_on_dark), to_mnist(dark_on_light))


def test_grey_paper_becomes_black_and_aspect_ratio_is_kept() -> None:
    page = np.full((100, 300), 180.0)  # grey paper
    page[40:60, 50:250] = 30.0  # a wide dash, 20 x 200
    digit = to_mnist(page)
    height, width = ink_box(digit)
    assert width == BOX
    assert height == 2  # 20 * 20 / 200
    assert (digit == 0).sum() == 28 * 28 - height * width


def test_large_photo_is_area_averaged_so_thin_strokes_survive() -> None:
    page = np.full((2000, 2000), 255, dtype=np.uint8)
    page[100:1900, 1000:1004] = 0  # a 4-pixel stroke, 1/450 of the picture's width
    page[1000:1004, 400:1600] = 0
    digit = to_mnist(page)
    # 1800 x 1200 of ink scale to 20 x 13; point sampling would miss the strokes altogether.
    assert ink_box(digit) == (BOX, 13)
    stroke = digit.max(axis=1)
    assert (stroke[stroke > 0] > 60).all()


def test_specks_of_dust_neither_widen_the_crop_nor_move_the_digit() -> None:
    clean = draw_one()
    dusty = clean.copy()
    dusty[230, 5] = dusty[3, 3] = dusty[200:202, 170:172] = 0  # dark specks far from the "1"
    noisy = clean + np.random.default_rng(0).normal(0, 6, clean.shape)  # grainy paper
    assert np.array_equal(to_mnist(dusty), to_mnist(clean))
    assert np.abs(to_mnist(noisy).astype(int) - to_mnist(clean)).max() <= 40
    assert ink_box(to_mnist(noisy) > 40) == ink_box(to_mnist(clean) > 40)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.full((10, 10), 200, dtype=np.uint8), "no ink"),
        (np.zeros((3, 3, 3)), "2-D"),
        (np.array([[0.0, np.nan]]), "NaN"),
    ],
)
def test_bad_arrays_are_refused_with_the_name(image: np.ndarray, message: str) -> None:
    with pytest.raises(DataFormatError, match=f"pic.png: .*{message}"):
        to_mnist(image, name="pic.png")


def test_load_images_reads_files_in_order(tmp_path: Path) -> None:
    first = draw_one()
    second = np.full((50, 50), 255, dtype=np.uint8)
    second[10:40, 20:30] = 0
    paths = [tmp_path / "a.png", tmp_path / "b.jpg"]
    Image.fromarray(first).save(paths[0])
    Image.fromarray(second).save(paths[1], quality=95)
    digits = load_images(paths)
    assert digits.shape == (2, 28, 28) and digits.dtype == np.uint8
    assert np.array_equal(digits[0], to_mnist(first))
    # JPEG noise on the paper must not widen the crop: the block still fills the box.
    assert max(ink_box(digits[1] > 40)) == BOX
    assert load_images([]).shape == (0, 28, 28)


def test_colour_and_transparent_pictures(tmp_path: Path) -> None:
    rgb = np.stack([draw_one()] * 3, axis=-1)
    rgb[..., 2] = np.where(rgb[..., 0] < 128, 200, rgb[..., 2])  # blue ink
    Image.fromarray(rgb).save(tmp_path / "blue.png")
    # Black ink on a fully transparent canvas whose hidden colour is also black.
    rgba = np.zeros((*draw_one().shape, 4), dtype=np.uint8)
    rgba[..., 3] = np.where(draw_one() < 128, 255, 0)
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "clear.png")
    blue, clear = load_images([tmp_path / "blue.png", tmp_path / "clear.png"])
    reference = to_mnist(draw_one())
    assert np.array_equal(clear, reference)
    assert np.abs(blue.astype(int) - reference).max() <= 40
    assert read_gray(tmp_path / "clear.png")[0, 0] == 255  # transparent reads as white paper


def test_missing_and_broken_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"nope\.png: no such file"):
        load_images([tmp_path / "nope.png"])
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a picture at all")
    with pytest.raises(DataFormatError, match=r"broken\.png: not an image"):
        load_images([broken])
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((8, 8), 255, dtype=np.uint8)).save(blank)
    with pytest.raises(DataFormatError, match=r"blank\.png: no ink"):
        load_images([blank])


def test_missing_pillow_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "PIL" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingExtraError, match=r"pip install 'purenet\[image\]'"):
        load_images([tmp_path / "a.png"])


def test_mnist_model_reads_mnist_digits_written_as_pictures(tmp_path: Path, data_dir: Path) -> None:
    from purenet.data.load import load_dataset

    folder = data_dir
    train = load_dataset("mnist", "train10k", data_dir=folder)
    test = load_dataset("mnist", "test", data_dir=folder)
    x = train.x[:5000].reshape(5000, 784).astype(np.float32) / 255
    y = train.y[:5000]
    arch = pn.Architecture((784, 64, 10), hidden="relu")
    params = pn.init(arch, seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        order = rng.permutation(len(x))
        for start in range(0, len(x), 50):
            rows = order[start : start + 50]
            _, grads = pn.value_and_grad(arch, params, x[rows], y[rows])
            params = pn.sgd_step(params, grads, 0.1)
    count = 20
    paths = []
    for i in range(count):
        # As a user's scan would be: dark ink on white paper, four times larger, off-centre.
        big = np.kron(255 - test.x[i], np.ones((4, 4), dtype=np.uint8))
        page = np.full((200, 170), 255, dtype=np.uint8)
        page[5 : 5 + 112, 50 : 50 + 112] = big
        paths.append(tmp_path / f"digit{i}.png")
        Image.fromarray(page).save(paths[-1])
    digits = load_images(paths)
    # MNIST digits already follow the convention, so the round trip gives them back.
    assert np.abs(digits.astype(int) - test.x[:count]).mean() < 2
    guesses = pn.predict(arch, params, digits.reshape(count, 784).astype(np.float32) / 255)
    direct = pn.predict(arch, params, test.x[:count].reshape(count, 784).astype(np.float32) / 255)
    truth = test.y[:count]
    # The model is good on the original digits; read back from pictures it does as well
    # (at most one digit lost to re-centring and re-scaling).
    assert (direct == truth).sum() >= count - 1
    assert (guesses == truth).sum() >= (direct == truth).sum() - 1
