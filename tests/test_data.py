import numpy as np

from dlcli.data.cifar import NUM_CLASSES, ROW, synthetic_dataset, synthetic_images
from dlcli.data.preprocess import images_to_features, mean_image


def test_synthetic_images_layout_and_balance():
    x, y = synthetic_images(200, np.random.default_rng(0))
    assert x.shape == (200, ROW) and x.dtype == np.uint8
    assert y.dtype == np.int64 and np.bincount(y, minlength=10).tolist() == [20] * 10


def test_synthetic_is_deterministic_by_seed():
    a = synthetic_dataset(100, 20, 30, seed=3)
    b = synthetic_dataset(100, 20, 30, seed=3)
    c = synthetic_dataset(100, 20, 30, seed=4)
    assert np.array_equal(a.X_train, b.X_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.X_train, c.X_train)


def test_train_split_does_not_depend_on_test_size():
    a = synthetic_dataset(100, 20, 30, seed=0)
    b = synthetic_dataset(100, 20, 60, seed=0)
    assert np.array_equal(a.X_train, b.X_train)


def test_classes_differ_in_colour():
    # The R, G, B blocks of the row layout carry each class's colour: class means differ.
    x, y = synthetic_images(2000, np.random.default_rng(1))
    channel_means = x.reshape(-1, 3, 1024).mean(axis=2)
    per_class = np.array([channel_means[y == k].mean(axis=0) for k in range(NUM_CLASSES)])
    assert np.ptp(per_class, axis=0).max() > 20


def test_preprocessing_mean_subtraction_and_bias_trick():
    ds = synthetic_dataset(100, 10, 10, seed=0)
    assert ds.X_train.shape == (100, 3073) and ds.X_train.dtype == np.float32
    assert np.allclose(ds.X_train[:, :-1].mean(axis=0), 0, atol=1e-3)
    assert np.all(ds.X_train[:, -1] == 1) and np.all(ds.X_test[:, -1] == 1)


def test_images_to_features_uses_the_given_mean():
    x = np.array([[0, 10, 20], [10, 30, 40]], dtype=np.uint8)
    f = images_to_features(x, mean_image(x))
    assert np.allclose(f, [[-5, -10, -10, 1], [5, 10, 10, 1]])
