"""The PromQL reader the dashboard test relies on."""

from __future__ import annotations

from tests.deploy.promql import metric_names, selector_labels


def test_metric_names_skip_functions_labels_durations_and_keywords() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, route) (rate(p3_api_request_seconds_bucket"
        '{route!="/metrics"}[$__rate_interval]))) > on (job) group_left (x) up{job="api"} '
        "and time() - p3:api_error_ratio:rate5m offset 5m"
    )
    assert metric_names(expr) == {
        "p3_api_request_seconds_bucket",
        "up",
        "p3:api_error_ratio:rate5m",
    }


def test_a_misspelled_metric_is_reported_as_itself() -> None:
    assert metric_names("sum(rate(p3_api_request_total[5m]))") == {"p3_api_request_total"}


def test_selector_labels_are_read_per_metric() -> None:
    expr = 'sum(rate(p3_api_requests_total{status=~"5..", route!="/x"}[5m])) / up{job="api"}'
    assert selector_labels(expr) == {"p3_api_requests_total": {"status", "route"}, "up": {"job"}}
