"""Features -> model inputs (impute, one-hot, scale) and regression targets -> standard units.

A :class:`Preprocessor` is fitted on the training rows of one fold and only then applied to the
fold's validation rows, so no statistic of a validation row leaks into training. Export fits
one on all training rows and saves it next to the weights as plain numbers (:meth:`state`,
JSON plus arrays; no pickle), which :meth:`from_state` turns back into an equal transform.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, StandardScaler

from automl.studyfile import Preprocess, Task


class Preprocessor:
    """Fitted feature and target transforms for one set of training rows.

    >>> import numpy as np
    >>> from automl.studyfile import Preprocess, Task
    >>> p = Preprocessor(Preprocess.STANDARDIZE, Task.REGRESSION, (2,), {})
    >>> X, y = np.array([[0, 1], [2, 3]], dtype=np.float32), np.array([1.0, 3.0])
    >>> p.fit(X, y).transform(X).tolist(), p.transform_target(y).tolist()
    ([[-1.0, -1.0], [1.0, 1.0]], [-1.0, 1.0])
    """

    def __init__(
        self,
        kind: Preprocess,
        task: Task,
        input_shape: tuple[int, ...],
        categorical: dict[int, tuple[str, ...]],
        *,
        impute: bool = True,
    ) -> None:
        self.kind = kind
        self.task = task
        self.input_shape = input_shape
        self.categorical = dict(categorical)
        self.impute = impute
        self.features: Any = None  # a fitted scikit-learn transformer, or None for identity
        self.y_mean = 0.0
        self.y_scale = 1.0

    def fit(self, X: np.ndarray, y: np.ndarray) -> Preprocessor:
        self.features = build_feature_transformer(
            self.kind, X.shape[1] if X.ndim == 2 else 0, self.categorical, impute=self.impute
        )
        if self.features is not None:
            self.features.fit(_flat(X))
        if self.task == Task.REGRESSION:
            # Standard units let one lr range fit every target scale; metrics invert this.
            self.y_mean = float(np.mean(y))
            std = float(np.std(y))
            self.y_scale = std if std > 1e-12 else 1.0
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        out = _flat(X) if self.features is None else self.features.transform(_flat(X))
        return np.ascontiguousarray(out, dtype=np.float32).reshape((len(X), *self.input_shape))

    def transform_target(self, y: np.ndarray) -> np.ndarray:
        if self.task == Task.CLASSIFICATION:
            return np.asarray(y, dtype=np.int64)
        return ((np.asarray(y, dtype=np.float64) - self.y_mean) / self.y_scale).astype(np.float32)

    def inverse_target(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, dtype=np.float64) * self.y_scale + self.y_mean

    # -- saved as numbers ---------------------------------------------------------------------

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """What the fitted transform is, as JSON-safe facts and named float arrays."""
        facts: dict[str, Any] = {
            "kind": self.kind.value,
            "task": self.task.value,
            "input_shape": list(self.input_shape),
            "categorical": {str(k): list(v) for k, v in self.categorical.items()},
            "impute": self.impute,
            "y_mean": self.y_mean,
            "y_scale": self.y_scale,
            "fitted": self.features is not None,
        }
        arrays: dict[str, np.ndarray] = {}
        if self.features is None:
            return facts, arrays
        numeric = _numeric_steps(self.features)
        if "impute" in numeric:
            arrays["numeric_fill"] = np.nan_to_num(numeric["impute"].statistics_.astype(np.float64))
        scaler = numeric.get("scale")
        if isinstance(scaler, StandardScaler):
            arrays["numeric_mean"], arrays["numeric_scale"] = (
                scaler.mean_.astype(np.float64),
                scaler.scale_.astype(np.float64),
            )
        elif isinstance(scaler, MinMaxScaler):
            arrays["numeric_min"], arrays["numeric_scale"] = (
                scaler.min_.astype(np.float64),
                scaler.scale_.astype(np.float64),
            )
        if self.categorical:
            one_hot = self.features.named_transformers_["categorical"]
            arrays["categorical_fill"] = np.nan_to_num(
                one_hot.named_steps["impute"].statistics_.astype(np.float64)
            )
        return facts, arrays

    @classmethod
    def from_state(cls, facts: dict[str, Any], arrays: dict[str, np.ndarray]) -> Preprocessor:
        """The transform :meth:`state` described (numpy only; no scikit-learn object)."""
        pre = cls(
            Preprocess(facts["kind"]),
            Task(facts["task"]),
            tuple(facts["input_shape"]),
            {int(k): tuple(v) for k, v in facts["categorical"].items()},
            impute=bool(facts["impute"]),
        )
        pre.y_mean, pre.y_scale = float(facts["y_mean"]), float(facts["y_scale"])
        if facts["fitted"]:
            pre.features = _SavedFeatures(pre.categorical, arrays)
        return pre


def build_feature_transformer(
    kind: Preprocess, n_columns: int, categorical: dict[int, tuple[str, ...]], *, impute: bool
) -> Any:
    """The scikit-learn transformer for one fold, unfitted; None when there is nothing to do.

    Categorical columns (integer codes) are imputed with the most frequent code and one-hot
    encoded over *all* known categories, so every fold yields the same number of columns.
    """
    scaler = _scaler(kind)
    numeric_steps: list[tuple[str, Any]] = []
    if impute:
        numeric_steps.append(("impute", SimpleImputer(strategy="mean", keep_empty_features=True)))
    if scaler is not None:
        numeric_steps.append(("scale", scaler))
    if not categorical:
        return Pipeline(numeric_steps) if numeric_steps else None
    one_hot = Pipeline(
        [
            ("impute", SimpleImputer(strategy="most_frequent", keep_empty_features=True)),
            (
                "one_hot",
                OneHotEncoder(
                    categories=[
                        np.arange(len(categorical[c]), dtype=np.float64)
                        for c in sorted(categorical)
                    ],
                    handle_unknown="ignore",
                    sparse_output=False,
                ),
            ),
        ]
    )
    numeric = [c for c in range(n_columns) if c not in categorical]
    return ColumnTransformer(
        [("numeric", Pipeline(numeric_steps) if numeric_steps else "passthrough", numeric),
         ("categorical", one_hot, sorted(categorical))],
        sparse_threshold=0.0,
    )  # fmt: skip


def _numeric_steps(features: Any) -> dict[str, Any]:
    """The fitted numeric steps (impute, scale) of a transformer from build_feature_transformer."""
    if isinstance(features, Pipeline):
        return dict(features.named_steps)
    numeric = features.named_transformers_["numeric"]
    return dict(numeric.named_steps) if isinstance(numeric, Pipeline) else {}


class _SavedFeatures:
    """The feature transform of a saved Preprocessor, in numpy: numeric columns imputed and
    scaled, then the categorical codes imputed and one-hot encoded, in that column order (as
    the ColumnTransformer it was saved from outputs them)."""

    def __init__(
        self, categorical: dict[int, tuple[str, ...]], arrays: dict[str, np.ndarray]
    ) -> None:
        self.categorical, self.arrays = categorical, arrays

    def transform(self, X: np.ndarray) -> np.ndarray:
        a = self.arrays
        cats = sorted(self.categorical)
        numeric_cols = [c for c in range(X.shape[1]) if c not in self.categorical]
        numeric = X[:, numeric_cols].astype(np.float64)
        if "numeric_fill" in a:
            numeric = np.where(np.isnan(numeric), a["numeric_fill"], numeric)
        if "numeric_mean" in a:
            numeric = (numeric - a["numeric_mean"]) / a["numeric_scale"]
        elif "numeric_min" in a:
            numeric = numeric * a["numeric_scale"] + a["numeric_min"]
        if not cats:
            return numeric
        codes = X[:, cats].astype(np.float64)
        codes = np.where(np.isnan(codes), a["categorical_fill"], codes)
        blocks = [numeric]
        for j, c in enumerate(cats):
            n = len(self.categorical[c])
            blocks.append(
                (codes[:, j : j + 1] == np.arange(n, dtype=np.float64)).astype(np.float64)
            )
        return np.concatenate(blocks, axis=1)


def _scaler(kind: Preprocess) -> Any:
    if kind == Preprocess.STANDARDIZE:
        return StandardScaler()
    if kind == Preprocess.MINMAX:
        return MinMaxScaler()
    return None


def _flat(X: np.ndarray) -> np.ndarray:
    return X.reshape(len(X), -1)
