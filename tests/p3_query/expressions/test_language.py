"""The expression language without a database: parsing, precedence, type errors with positions,
limits, and SQL with every literal bound."""

from __future__ import annotations

import pytest

from p3_query.expressions import (
    MAX_DEPTH,
    ExpressionError,
    check_metric,
    compile_sql,
    parse,
)
from p3_query.expressions.nodes import Binary, Call, MetricRef, Number


def _error(expression: str, entity: str = "constructor") -> ExpressionError:
    with pytest.raises(ExpressionError) as caught:
        check_metric(expression, entity)  # type: ignore[arg-type]
    return caught.value


def _sql(expression: str, partition: tuple[str, ...] = ()) -> tuple[str, dict[str, object]]:
    params: dict[str, object] = {}
    checked = check_metric(expression, "constructor")
    return compile_sql(
        checked, lambda n: f"r.{n}", params, prefix="x_", partition_by=partition
    ), params


def test_multiplication_binds_tighter_than_addition_and_parentheses_override_it() -> None:
    tree = parse("points + wins * 2")
    assert isinstance(tree, Binary) and tree.op == "+"
    assert isinstance(tree.right, Binary) and tree.right.op == "*"
    grouped = parse("(points + wins) * 2")
    assert isinstance(grouped, Binary) and grouped.op == "*"
    assert isinstance(grouped.left, Binary) and grouped.left.op == "+"


def test_subtraction_and_division_associate_to_the_left() -> None:
    tree = parse("points - wins - poles")
    assert isinstance(tree, Binary) and isinstance(tree.left, Binary)
    assert isinstance(tree.left.left, MetricRef) and tree.left.left.name == "points"
    ratio = parse("points / races / 2")
    assert isinstance(ratio, Binary) and isinstance(ratio.right, Number)


def test_literals_are_bound_parameters_never_sql_text() -> None:
    sql, params = _sql("if(wins > 3, points * 1.5, 0)")
    assert "1.5" not in sql and " 3" not in sql
    assert sorted(params.values()) == [0, 1.5, 3]
    assert all(f"$x_{i}" in sql for i in range(3))


def test_literals_out_of_range_are_refused_and_arithmetic_with_them_is_double() -> None:
    error = _error("points * 99999999999999999999")
    assert "out of range" in error.message and error.column == 10
    assert "out of range" in _error("points * 1e999").message
    sql, _ = _sql("wins * 1000000000000000 * 1000000000000000")
    assert sql.count("as DOUBLE)") == 2 and "BIGINT" not in sql


def test_division_is_true_division_with_null_on_a_zero_divisor() -> None:
    sql, _ = _sql("wins / starts")
    assert sql == "(cast(r.wins as DOUBLE) / nullif(r.starts, 0))"


def test_aggregates_become_windows_over_the_group() -> None:
    sql, _ = _sql("points / sum(points)", ("r.season",))
    assert "sum(r.points) over (partition by r.season)" in sql
    overall, _ = _sql("points - max(points)")
    assert "max(r.points) over ()" in overall


def test_unknown_metric_points_at_the_name_and_suggests_the_closest() -> None:
    error = _error("points / startz")
    assert (error.line, error.column) == (1, 10)
    assert "unknown metric 'startz'" in error.message and "did you mean 'starts'" in error.message
    assert str(error).splitlines()[-1] == "    " + " " * 9 + "^^^^^^"


def test_metric_of_another_entity_is_named_as_unavailable() -> None:
    error = _error("teammate_race_duels + 1")
    assert "'teammate_race_duels' is not available here" in error.message
    assert check_metric("teammate_race_duels + 1", "driver").metrics == ("teammate_race_duels",)


def test_errors_on_the_second_line_give_that_line_and_column() -> None:
    error = _error("points\n  + foo(wins)")
    assert (error.line, error.column) == (2, 5)
    assert "unknown function foo()" in error.message and "coalesce()" in error.message


@pytest.mark.parametrize(
    ("expression", "message", "column"),
    [
        ("points / 0", "division by a literal zero", 10),
        ("points / -0.0", "division by a literal zero", 10),
        ("wins > 2", "must be a number, not a condition", 1),
        ("if(points, 1, 0)", "the condition of if() must be a boolean", 4),
        ("points + (wins > 1)", "the right side of '+' must be a number", 10),
        ("not points", "the operand of 'not' must be a boolean", 5),
        ("sum(mean(points))", "aggregates do not nest", 5),
        ("coalesce(points)", "coalesce() takes 2 or more arguments, 1 given", 1),
        ("round(points, wins)", "digits of round() must be a whole number literal", 15),
        ("1 < 2 < 3", "comparisons do not chain", 7),
        ("points +", "ends too early", 9),
        ("points wins", "unexpected 'wins' after a complete expression", 8),
        ("points = wins", "('=' compares as '==')", 8),
        ("points; drop table x", "unexpected character ';'", 7),
        ("(points", "expected ')' to close the parenthesis", 8),
        ("", "the expression is empty", 1),
        ("1 + 2", "the expression reads no metric", 1),
    ],
)
def test_bad_expressions_are_refused_at_their_position(
    expression: str, message: str, column: int
) -> None:
    error = _error(expression)
    assert message in error.message
    assert error.column == column
    assert "\n" not in error.one_line()


def test_nesting_beyond_the_limit_is_refused_not_a_recursion_error() -> None:
    deep = "(" * (MAX_DEPTH + 5) + "points" + ")" * (MAX_DEPTH + 5)
    error = _error(deep)
    assert f"nested deeper than {MAX_DEPTH} levels" in error.message
    ok = "(" * (MAX_DEPTH - 2) + "points" + ")" * (MAX_DEPTH - 2)
    assert check_metric(ok, "constructor").metrics == ("points",)


def test_an_overlong_expression_is_refused_before_parsing() -> None:
    error = _error(" + ".join(["points"] * 200))
    assert "at most 1000 are allowed" in error.message


def test_checked_expression_lists_the_registry_metrics_it_reads_once() -> None:
    checked = check_metric("coalesce(points, 0) / greatest(races, 1) + points", "constructor")
    assert checked.metrics == ("points", "races")
    assert isinstance(parse("abs(points)"), Call)
