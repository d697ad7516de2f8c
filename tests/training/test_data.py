"""Data sources, task inference, the test split, the cache, and every DataError the user can
meet."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from automl.errors import DataError
from automl.studyfile import DataSpec, Task
from automl.training import DataCache, cv_splits, infer_task, load_dataset


def write_csv(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def classification_csv(tmp_path: Path, n: int = 30) -> Path:
    rows = ["size,colour,weight,label"]
    rng = np.random.default_rng(0)
    for i in range(n):
        colour = ["red", "green", "blue", ""][i % 4]  # "" is a missing value
        weight = "" if i % 7 == 3 else f"{rng.normal():.3f}"
        rows.append(f"{i % 5},{colour},{weight},{'cat' if i % 2 else 'dog'}")
    return write_csv(tmp_path / "pets.csv", "\n".join(rows) + "\n")


@pytest.mark.parametrize(
    ("name", "task", "shape", "n_classes"),
    [
        ("iris", Task.CLASSIFICATION, (4,), 3),
        ("wine", Task.CLASSIFICATION, (13,), 3),
        ("breast_cancer", Task.CLASSIFICATION, (30,), 2),
        ("diabetes", Task.REGRESSION, (10,), 0),
        ("digits", Task.CLASSIFICATION, (1, 8, 8), 10),
    ],
)
def test_sklearn_loaders(name: str, task: Task, shape: tuple[int, ...], n_classes: int) -> None:
    ds = load_dataset(DataSpec(source=f"sklearn:{name}", test_size=0.25))
    assert ds.task == task and ds.input_shape == shape and ds.n_classes == n_classes
    assert ds.X_train.shape[1:] == shape and ds.X_train.dtype == np.float32
    total = len(ds.X_train) + len(ds.X_test)
    assert len(ds.X_test) == pytest.approx(0.25 * total, abs=1)
    assert ds.y_train.dtype == (np.int64 if task == Task.CLASSIFICATION else np.float32)


def test_generators_take_their_options() -> None:
    options = {"n_samples": 150, "n_features": 7, "n_informative": 4, "n_classes": 3}
    ds = load_dataset(DataSpec(source="sklearn:make_classification", options=options))
    assert ds.input_shape == (7,) and ds.n_classes == 3 and len(ds.X_train) == 120
    reg = load_dataset(
        DataSpec(source="sklearn:make_regression", options={"n_samples": 50, "n_features": 3})
    )
    assert reg.task == Task.REGRESSION and reg.input_shape == (3,)


def test_generator_with_a_bad_option_names_data_options() -> None:
    with pytest.raises(DataError, match=r"^data\.options: make_classification rejected"):
        load_dataset(DataSpec(source="sklearn:make_classification", options={"n_rows": 5}))


def test_test_split_is_stratified_disjoint_and_seeded() -> None:
    spec = DataSpec(source="sklearn:iris", test_size=0.2)
    a, b = load_dataset(spec), load_dataset(spec)
    assert np.array_equal(a.X_test, b.X_test)
    assert np.bincount(a.y_test).tolist() == [10, 10, 10]  # stratified: 20% of each class
    c = load_dataset(DataSpec(source="sklearn:iris", test_size=0.2, cv={"seed": 1}))
    assert not np.array_equal(a.X_test, c.X_test)
    train_rows = {r.tobytes() for r in a.X_train}
    assert sum(r.tobytes() in train_rows for r in a.X_test) <= 1  # iris has one duplicate row


def test_csv_with_numeric_categorical_and_missing_values(tmp_path: Path) -> None:
    path = classification_csv(tmp_path)
    ds = load_dataset(DataSpec(source=f"csv:{path}", target="label", test_size=0.2))
    assert ds.task == Task.CLASSIFICATION and ds.classes == ("cat", "dog")
    assert ds.feature_names == ("size", "colour", "weight")
    assert ds.categorical == {1: ("blue", "green", "red")}
    assert ds.input_shape == (2 + 3,)  # size, weight + one-hot colour
    assert ds.has_missing


def test_csv_numeric_target_can_be_regression(tmp_path: Path) -> None:
    rows = "\n".join(f"{i},{i * 0.37 + 0.01:.3f}" for i in range(40))
    path = write_csv(tmp_path / "r.csv", "x,y\n" + rows + "\n")
    ds = load_dataset(DataSpec(source=f"csv:{path}", target="y"))
    assert ds.task == Task.REGRESSION and ds.y_train.dtype == np.float32


@pytest.mark.parametrize("shape", [(40, 6), (40, 5, 5), (40, 2, 4, 4)])
def test_npz_tabular_and_images(tmp_path: Path, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=shape), y=np.arange(40) % 2)
    ds = load_dataset(DataSpec(source=f"npz:{tmp_path / 'd.npz'}"))
    expected = {2: (6,), 3: (1, 5, 5), 4: (2, 4, 4)}[len(shape)]
    assert ds.input_shape == expected and ds.X_train.shape[1:] == expected


def test_npz_without_y_lists_what_it_holds(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), labels=np.zeros(4))
    with pytest.raises(DataError, match=r"no array 'y'; it holds: X, labels"):
        load_dataset(DataSpec(source=f"npz:{tmp_path / 'd.npz'}"))


def test_python_source_imports_only_the_named_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_data_mod.py").write_text(
        "import numpy as np\ndef load():\n    rng = np.random.default_rng(0)\n"
        "    return rng.normal(size=(60, 3)), np.arange(60) % 3\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    ds = load_dataset(DataSpec(source="python:my_data_mod:load"))
    assert ds.input_shape == (3,) and ds.n_classes == 3
    assert "my_data_mod" in sys.modules
    with pytest.raises(
        DataError, match=r"^data\.source: module 'my_data_mod' has no function 'nope'"
    ):
        load_dataset(DataSpec(source="python:my_data_mod:nope"))
    with pytest.raises(DataError, match=r"^data\.source: cannot import module 'no_such_mod_xyz'"):
        load_dataset(DataSpec(source="python:no_such_mod_xyz:load"))


def test_task_inference() -> None:
    rng = np.random.default_rng(0)
    assert infer_task(rng.normal(size=100)) == Task.REGRESSION
    assert infer_task(np.arange(100) % 4) == Task.CLASSIFICATION
    assert infer_task(np.array([0.0, 1.0, 1.0, 0.0])) == Task.CLASSIFICATION
    assert infer_task(np.array(["a", "b", "a"], dtype=object)) == Task.CLASSIFICATION
    assert infer_task(np.arange(100)) == Task.REGRESSION  # many distinct values


def test_metric_task_wins_over_inference(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", X=np.zeros((60, 2)), y=np.arange(60) % 3)
    spec = DataSpec(source=f"npz:{tmp_path / 'd.npz'}")
    assert load_dataset(spec).task == Task.CLASSIFICATION
    assert load_dataset(spec, Task.REGRESSION).task == Task.REGRESSION


# --- what the user gets wrong -------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^data\.source: file not found: .*nope\.csv$"):
        load_dataset(DataSpec(source=f"csv:{tmp_path / 'nope.csv'}", target="y"))


def test_csv_without_the_target_column(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", "a,b\n1,2\n3,4\n")
    with pytest.raises(DataError) as info:
        load_dataset(DataSpec(source=f"csv:{path}", target="label"))
    assert (
        info.value.message
        == f"data.target: column 'label' is not in {path.resolve()}; columns are: a, b"
    )
    assert info.value.exit_code == 2


def test_non_numeric_regression_target(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", "a,y\n1,2.5\n2,abc\n3,1.0\n")
    with pytest.raises(
        DataError, match=r"^data\.target: column 'y' has non-numeric values \(e\.g\. 'abc'\)"
    ):
        load_dataset(DataSpec(source=f"csv:{path}", target="y", task="regression"))


def test_class_with_fewer_rows_than_folds(tmp_path: Path) -> None:
    labels = ["a"] * 20 + ["b"] * 20 + ["c"] * 3
    path = write_csv(
        tmp_path / "x.csv", "x,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels))
    )
    with pytest.raises(
        DataError, match=r"^data\.cv\.folds: class 'c' has only 3 rows, fewer than the 5 folds"
    ):
        load_dataset(DataSpec(source=f"csv:{path}", target="y", cv={"folds": 5}))


def test_class_short_after_the_test_split(tmp_path: Path) -> None:
    labels = ["a"] * 20 + ["b"] * 5
    path = write_csv(
        tmp_path / "x.csv", "x,y\n" + "".join(f"{i},{v}\n" for i, v in enumerate(labels))
    )
    with pytest.raises(DataError, match=r"class 'b' has only 4 rows in the training split"):
        load_dataset(DataSpec(source=f"csv:{path}", target="y", cv={"folds": 5}, test_size=0.2))


def test_missing_targets(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", "x,y\n1,a\n2,\n3,b\n4,NA\n")
    with pytest.raises(
        DataError, match=r"^data\.target: 2 rows of .* have no column 'y' value \(first at row 1\)"
    ):
        load_dataset(DataSpec(source=f"csv:{path}", target="y"))
    y = np.arange(30, dtype=float) % 2
    y[5] = np.nan
    np.savez(tmp_path / "d.npz", X=np.zeros((30, 2)), y=y)
    with pytest.raises(DataError, match=r"^data\.target: 1 rows of .* have no target"):
        load_dataset(DataSpec(source=f"npz:{tmp_path / 'd.npz'}"))


def test_one_class_only(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", "x,y\n" + "".join(f"{i},same\n" for i in range(20)))
    with pytest.raises(
        DataError, match=r"^data\.target: column 'y' holds only one class \('same'\)"
    ):
        load_dataset(DataSpec(source=f"csv:{path}", target="y"))


def test_python_source_that_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "bad_data_mod.py").write_text("def load():\n    raise RuntimeError('no disk')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DataError, match=r"raised RuntimeError: no disk"):
        load_dataset(DataSpec(source="python:bad_data_mod:load"))


# --- the cache ------------------------------------------------------------------------------


def test_cache_loads_once_and_notices_a_changed_file(tmp_path: Path) -> None:
    cache = DataCache(max_entries=2)
    iris = DataSpec(source="sklearn:iris")
    assert cache.get(iris) is cache.get(iris)
    assert cache.get(iris) is not cache.get(DataSpec(source="sklearn:iris", test_size=0.3))
    path = write_csv(tmp_path / "x.csv", "x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    spec = DataSpec(source=f"csv:{path}", target="y")
    first = cache.get(spec)
    write_csv(path, "x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(30)))
    assert len(cache.get(spec).X_train) > len(first.X_train)
    assert len(cache) == 2  # bounded


def test_repeated_cv_partitions_the_rows_once_per_repeat_with_new_shuffles() -> None:
    spec = DataSpec(source="sklearn:iris", cv={"folds": 3, "repeats": 2})
    dataset = load_dataset(spec)
    splits = cv_splits(dataset, spec)
    assert len(splits) == 6  # 3 folds x 2 repeats
    for r in range(2):
        rows = np.concatenate([val for _, val in splits[3 * r : 3 * r + 3]])
        assert sorted(rows.tolist()) == list(range(len(dataset.y_train)))  # each row validated once
    assert not any(np.array_equal(a[1], b[1]) for a, b in zip(splits[:3], splits[3:], strict=True))
    # One repeat is exactly the plain shuffled stratified k-fold of earlier studies.
    plain = DataSpec(source="sklearn:iris", cv={"folds": 3})
    expected = StratifiedKFold(3, shuffle=True, random_state=0).split(
        dataset.X_train, dataset.y_train
    )
    assert all(
        np.array_equal(a[1], b[1]) for a, b in zip(cv_splits(dataset, plain), expected, strict=True)
    )
