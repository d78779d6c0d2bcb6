"""CIFAR-10-style images: the built-in synthetic generator (files come from cifar_files.py).

Row layout as in the official files: 3072 uint8 values per image, 1024 red, then 1024 green,
then 1024 blue, each a row-major 32x32 plane.
"""

from __future__ import annotations

import numpy as np

from dlcli.data import Dataset
from dlcli.data.preprocess import images_to_features, mean_image, pixel_std

SIDE = 32
PIXELS = SIDE * SIDE
ROW = 3 * PIXELS
NUM_CLASSES = 10
CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)
# The classes themselves are the same for every seed (one fixed "world"); the seed draws the
# images. So changing the seed resamples the data set, not the task.
_WORLD_SEED = 20_240_513
_CHUNK = 2048  # images generated at a time, to bound float64 temporaries
# Pixel-value scales of the nuisance factors (the class signal's are in _ClassWorld).
BRIGHTNESS_SD = 28.0
CLUTTER_SD = 45.0
WHITE_SD = 25.0
COLOUR_CAST_SD = 20.0


class _ClassWorld:
    """Per-class structure: a mean colour, a soft blob and a low-frequency grating.

    Shapes: colour ``(C, 3)``, blob centre ``(C, 2)``, grating wave vector ``(C, 2)``, phase
    ``(C,)``, grating colour ``(C, 3)``.
    """

    def __init__(self) -> None:
        rng = np.random.default_rng(_WORLD_SEED)
        c = NUM_CLASSES
        self.colour = rng.uniform(-28, 28, size=(c, 3))
        self.blob_centre = rng.uniform(8, 24, size=(c, 2))
        self.blob_width = rng.uniform(4, 8, size=c)
        self.blob_colour = rng.uniform(-21, 21, size=(c, 3))
        angle = rng.uniform(0, np.pi, size=c)
        freq = rng.uniform(0.5, 2.0, size=c) * 2 * np.pi / SIDE
        self.wave = np.stack([np.cos(angle), np.sin(angle)], axis=1) * freq[:, None]
        self.phase = rng.uniform(0, 2 * np.pi, size=c)
        self.wave_colour = rng.uniform(-13.5, 13.5, size=(c, 3))


_WORLD = _ClassWorld()


def synthetic_images(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` balanced images -> ``(x (n, 3072) uint8, y (n,) int64)``, deterministic by ``rng``.

    Each image = grey level + class colour + class blob and grating, each jittered in position
    and strength, plus a distractor blob of random colour and heavy per-pixel noise. A linear
    classifier learns it well above chance but far from perfectly, like real CIFAR-10.
    """
    y = np.arange(n, dtype=np.int64) % NUM_CLASSES
    rng.shuffle(y)
    x = np.empty((n, ROW), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        x[start:stop] = _render(y[start:stop], rng)
    return x, y


def _render(y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Images for labels ``y (m,)`` -> ``(m, 3072)`` uint8."""
    w = _WORLD
    m = y.shape[0]
    grid = np.arange(SIDE, dtype=np.float64)
    rows, cols = grid[None, :, None], grid[None, None, :]  # (1, 32, 1), (1, 1, 32)

    shift = rng.normal(0, 3.0, size=(m, 2))
    centre = w.blob_centre[y] + shift
    d2 = (rows - centre[:, 0, None, None]) ** 2 + (cols - centre[:, 1, None, None]) ** 2
    blob = np.exp(-d2 / (2 * w.blob_width[y, None, None] ** 2))  # (m, 32, 32)
    k = w.wave[y]
    grating = np.cos(
        k[:, 0, None, None] * (rows - shift[:, 0, None, None])
        + k[:, 1, None, None] * (cols - shift[:, 1, None, None])
        + w.phase[y, None, None]
    )
    strength = rng.uniform(0.4, 1.6, size=(m, 3))  # colour, blob, grating
    # Overall brightness, shared by all pixels: the large common direction that makes raw pixels
    # poorly conditioned, as in real photos.
    img = np.empty((m, 3, SIDE, SIDE), dtype=np.float32)
    img[:] = 128 + rng.normal(0, BRIGHTNESS_SD, size=(m, 1, 1, 1))
    img += (strength[:, 0, None] * w.colour[y])[:, :, None, None]
    img += rng.normal(0, COLOUR_CAST_SD, size=(m, 3, 1, 1))  # within-class colour variation
    img += (strength[:, 1, None] * w.blob_colour[y])[:, :, None, None] * blob[:, None]
    img += (strength[:, 2, None] * w.wave_colour[y])[:, :, None, None] * grating[:, None]
    img += _clutter(m, rng)
    img += WHITE_SD * rng.standard_normal(size=img.shape, dtype=np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8).reshape(m, ROW)


def _clutter(m: int, rng: np.random.Generator) -> np.ndarray:
    """Smooth random background ``(m, 3, 32, 32)``: a coarse random grid, upsampled bilinearly.

    Real photos are mostly low-frequency clutter, not white noise; it is what makes the task
    hard for a linear classifier while random directions still see coarse structure.
    """
    coarse = rng.normal(0, CLUTTER_SD, size=(m, 3, _COARSE, _COARSE)).astype(np.float32)
    return np.einsum("ij,mcjk,lk->mcil", _UPSAMPLE, coarse, _UPSAMPLE, optimize=True)


def _upsample_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Bilinear interpolation weights ``(n_out, n_in)``."""
    pos = np.linspace(0, n_in - 1, n_out)
    lo = np.minimum(np.floor(pos).astype(int), n_in - 2)
    frac = pos - lo
    u = np.zeros((n_out, n_in), dtype=np.float32)
    u[np.arange(n_out), lo] = 1 - frac
    u[np.arange(n_out), lo + 1] = frac
    return u


_COARSE = 6
_UPSAMPLE = _upsample_matrix(_COARSE, SIDE)


def synthetic_dataset(num_train: int, num_val: int, num_test: int, seed: int,
                      normalize: bool = False) -> Dataset:
    """The ``cifar10-synthetic`` source: three splits, each from its own stream of ``seed``.

    Separate streams mean changing ``num_test`` never changes the training images.
    """
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, 1]).spawn(3)]
    x_tr, y_tr = synthetic_images(num_train, streams[0])
    x_va, y_va = synthetic_images(num_val, streams[1])
    x_te, y_te = synthetic_images(num_test, streams[2])
    return image_dataset(x_tr, y_tr, x_va, y_va, x_te, y_te, normalize)


def image_dataset(
    x_tr: np.ndarray, y_tr: np.ndarray, x_va: np.ndarray, y_va: np.ndarray,
    x_te: np.ndarray, y_te: np.ndarray, normalize: bool = False,
) -> Dataset:
    """Raw uint8 rows -> a classification Dataset with the shared image preprocessing.

    ``normalize``: also divide by the training pixels' standard deviation (one number), so
    features have unit scale — what He-initialized MLPs expect.
    """
    mean = mean_image(x_tr)
    scale = pixel_std(x_tr, mean) if normalize else 1.0
    return Dataset(
        X_train=images_to_features(x_tr, mean, scale), y_train=y_tr,
        X_val=images_to_features(x_va, mean, scale), y_val=y_va,
        X_test=images_to_features(x_te, mean, scale), y_test=y_te,
        task="classification", num_classes=NUM_CLASSES,
        info={"image_shape": (SIDE, SIDE, 3), "class_names": list(CLASS_NAMES),
              "pixel_scale": scale},
    )
