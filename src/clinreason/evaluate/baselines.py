"""Classical baselines on the raw features: logistic regression and gradient boosting (scikit-learn).

They see the same patients and splits as the students, as numbers instead of text: numeric findings
(median-imputed and scaled for the linear model), yes/no findings as 0/1, categories one-hot, age and
sex. A student that cannot beat them is not learning much from its text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from clinreason.evaluate.decision import fit_decision_rule
from clinreason.evaluate.summary import ModelMetrics, model_metrics
from clinreason.records.schema import PatientRecord

BaselineName = Literal["logistic_regression", "gradient_boosting"]
BASELINES: tuple[BaselineName, ...] = ("logistic_regression", "gradient_boosting")


def feature_frame(records: Sequence[PatientRecord]) -> pd.DataFrame:
    """One row per patient; numeric columns stay float (NaN when missing), categories stay strings."""
    rows = []
    for record in records:
        row: dict[str, object] = {"age": record.age, "sex": record.sex}
        for key, finding in record.findings.items():
            value = finding.value
            row[key] = float(value) if isinstance(value, bool) else value
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in frame.columns:
        if frame[column].isna().all():
            frame = frame.drop(columns=column)
        elif all(isinstance(v, int | float) or v is None for v in frame[column]):
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
        else:
            frame[column] = frame[column].astype("object").where(frame[column].notna(), "missing").astype(str)
    return frame


def _pipeline(name: BaselineName, frame: pd.DataFrame, seed: int) -> Pipeline:
    numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in frame.columns if c not in numeric]
    if name == "logistic_regression":
        numbers = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
        model = LogisticRegression(max_iter=2000, random_state=seed)
    else:
        numbers = "passthrough"  # gradient boosting handles missing values itself
        model = HistGradientBoostingClassifier(random_state=seed)
    encode = ColumnTransformer(
        [
            ("numeric", numbers, numeric),
            ("categorical", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical),
        ],
    )
    return Pipeline([("features", encode), ("model", model)])


def fit_predict_baseline(
    name: BaselineName,
    train: Sequence[PatientRecord],
    test: Sequence[PatientRecord],
    labels: Sequence[str],
    seed: int = 0,
) -> tuple[list[str], np.ndarray]:
    """Predicted labels and probabilities (columns in `labels` order) for `test`."""
    frame = feature_frame(list(train) + list(test))
    train_x, test_x = frame.iloc[: len(train)], frame.iloc[len(train) :]
    gold = [record.labels[0] for record in train]
    pipeline = _pipeline(name, frame, seed).fit(train_x, gold)
    classes = list(pipeline.classes_)
    raw = pipeline.predict_proba(test_x)
    probabilities = np.zeros((len(test), len(labels)))
    for column, label in enumerate(labels):
        if label in classes:
            probabilities[:, column] = raw[:, classes.index(label)]
    predicted = [labels[int(i)] for i in probabilities.argmax(axis=1)]
    return predicted, probabilities


def evaluate_baselines(
    train: Sequence[PatientRecord],
    validation: Sequence[PatientRecord],
    test: Sequence[PatientRecord],
    labels: Sequence[str],
    *,
    seed: int = 0,
    bootstrap: int = 1000,
) -> dict[str, ModelMetrics]:
    """Each baseline fitted once on `train`; its validation probabilities fit the decision rule (as for the
    students) and `test` is scored by argmax and by that rule. Keys: `baseline:<name>`."""
    gold = [record.labels[0] for record in test]
    results: dict[str, ModelMetrics] = {}
    for name in BASELINES:
        predicted, probabilities = fit_predict_baseline(name, train, list(validation) + list(test), labels, seed=seed)
        held = len(validation)
        rule = fit_decision_rule([r.labels[0] for r in validation], probabilities[:held], labels) if held else None
        results[f"baseline:{name}"] = model_metrics(
            "baseline",
            gold,
            predicted[held:],
            labels,
            probabilities[held:],
            bootstrap=bootstrap,
            notes=[f"trained on the same {len(train)} patients' raw features"],
            rule=rule,
        )
    return results
