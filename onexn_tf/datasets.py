"""Small image data sets for ``onexn demo`` and the examples: scikit-learn's digits, or a directory of images.

Both give an ``ImageData``: an endless shuffled training set and a one-pass test set of (images, labels)
batches, images float32 RGB of the requested size with pixel values in [0, 255] before ``preprocess``
(pass the model's own, e.g. ``keras.applications.mobilenet_v2.preprocess_input``).
"""

import dataclasses
import os

import numpy as np


@dataclasses.dataclass
class ImageData:
    """train: endless, shuffled batches; test: one pass over the held-out images, batched."""

    train: object  # tf.data.Dataset
    test: object   # tf.data.Dataset
    num_classes: int
    num_train: int
    num_test: int
    source: str


def _check(size, batch_size, test_fraction):
    for name, value in (("size", size), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")


def _identity(images):
    return images


def digits(size, batch_size, *, seed=0, test_fraction=0.2, preprocess=None, test_batch_size=64):
    """scikit-learn's 8x8 handwritten digits (1,797 real images, 10 classes; ships with the wheel),
    upscaled to size x size RGB. A seeded random `test_fraction` of the images is held out."""
    import tensorflow as tf

    _check(size, batch_size, test_fraction)
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise ImportError("the digits data set comes with scikit-learn: pip install onexn[demo]") from None
    x, y = load_digits(return_X_y=True)
    x = (x.reshape(-1, 8, 8, 1) * (255.0 / 16.0)).astype(np.float32)  # 0..16 -> 0..255
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order].astype(np.int32)
    split = int((1.0 - test_fraction) * len(x))
    preprocess = preprocess or _identity

    def prep(images, labels):
        return preprocess(tf.image.resize(tf.repeat(images, 3, axis=-1), (size, size))), labels

    train = tf.data.Dataset.from_tensor_slices((x[:split], y[:split])).shuffle(split, seed=seed).repeat()
    test = tf.data.Dataset.from_tensor_slices((x[split:], y[split:]))
    return ImageData(train=train.batch(batch_size).map(prep).prefetch(2), test=test.batch(test_batch_size).map(prep),
                     num_classes=10, num_train=split, num_test=len(x) - split,
                     source=f"scikit-learn digits, 8x8 upscaled to {size}x{size}")


def image_directory(path, size, batch_size, *, seed=0, test_fraction=0.2, preprocess=None, test_batch_size=64):
    """Images in one sub-directory per class (``keras.utils.image_dataset_from_directory``), resized to
    size x size RGB; a seeded `test_fraction` of the files is held out."""
    import tensorflow as tf

    from onexn_tf.keras.compat import keras

    _check(size, batch_size, test_fraction)
    if not os.path.isdir(path):
        raise ValueError(f"data directory {path!r} does not exist or is not a directory")
    classes = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
    if len(classes) < 2:
        raise ValueError(f"data directory {path!r} needs one sub-directory of images per class (at least 2), "
                         f"found {classes}")
    train, test = keras.utils.image_dataset_from_directory(
        path, labels="inferred", label_mode="int", color_mode="rgb", image_size=(size, size), batch_size=None,
        shuffle=True, seed=seed, validation_split=test_fraction, subset="both")
    num_train, num_test = len(train.file_paths), len(test.file_paths)
    if num_train == 0 or num_test == 0:
        raise ValueError(f"data directory {path!r} has too few images for a train/test split "
                         f"({num_train} train, {num_test} test)")
    preprocess = preprocess or _identity

    def prep(images, labels):
        return preprocess(tf.cast(images, tf.float32)), labels

    train = train.shuffle(min(num_train, 10_000), seed=seed).repeat().batch(batch_size).map(prep).prefetch(2)
    test = test.batch(test_batch_size).map(prep)
    return ImageData(train=train, test=test, num_classes=len(classes), num_train=num_train, num_test=num_test,
                     source=f"{path} ({len(classes)} classes), resized to {size}x{size}")
