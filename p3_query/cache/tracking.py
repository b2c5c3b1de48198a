"""Log a trained query-sequence model to the active MLflow run.

Only the training asset imports this (it needs the ``ml`` extra); the query engine, the cache and
the future API load the model from the cache backend and never import MLflow.
"""

from __future__ import annotations

import json
from typing import Any

from .predict import PredictorEvaluation, QueryPredictor

EXPERIMENT = "p3-query-cache"
MODEL_ARTIFACT = "model/query_predictor.json"


def log_sequence_model(
    model: QueryPredictor,
    evaluation: PredictorEvaluation | None,
    params: dict[str, Any],
) -> None:
    """Parameters, model size, held-out evaluation and the model document, in the active run.

    ``params`` are the training run's own settings (log window, hold-out share, ...); the model
    adds its session gap and successor limit. Without an evaluation (too short a log) the run
    says so in a tag rather than logging zeros that would read as a bad model.
    """
    import mlflow

    if mlflow.active_run() is None:
        raise RuntimeError("log_sequence_model needs an active MLflow run")
    summary = model.summary()
    mlflow.log_params({**params, **model.params()})
    sizes = {k: v for k, v in summary.items() if isinstance(v, int)}  # the weight is a param
    mlflow.log_metrics({k: float(v) for k, v in sizes.items()})
    mlflow.set_tags(
        {
            "p3.model": "query-sequence",
            "p3.evaluated": str(evaluation is not None).lower(),
            "p3.phases": ",".join(summary["phases"]) or "none",
        }
    )
    if evaluation is not None:
        mlflow.log_metrics({f"eval/{k}": float(v) for k, v in evaluation.metrics().items()})
    # log_dict takes a dict; the transitions are a JSON list (what log_dict would write anyway).
    mlflow.log_text(
        json.dumps(top_transitions(model), indent=2, default=str), "top_transitions.json"
    )
    mlflow.log_text(model.to_json(), MODEL_ARTIFACT)


def top_transitions(model: QueryPredictor, n: int = 20) -> list[dict[str, Any]]:
    """The ``n`` most observed query -> next query steps, readable by template."""
    steps = [
        (count, source, target)
        for source, successors in model.transitions.items()
        for target, count in successors.items()
    ]
    steps.sort(key=lambda step: (-step[0], step[1], step[2]))
    return [
        {
            "from": source,
            "from_template": model.templates.get(source, ""),
            "to": target,
            "to_template": model.templates.get(target, ""),
            "count": count,
            "probability": round(count / sum(model.transitions[source].values()), 4),
        }
        for count, source, target in steps[:n]
    ]
