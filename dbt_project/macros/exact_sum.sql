{#- The sum of a DOUBLE expression, independent of the order DuckDB's threads add the rows in. A float
    sum of non-dyadic values (1950s shared drives: 1.33, 1/3 of a modern score) differs in the last
    bits from one build to the next, and so did the snapshot's build id. Each term is rounded to 10
    decimals and added exactly as a DECIMAL, then cast back to DOUBLE; ``over`` makes it a window
    sum (``sum(...) over (...)``). -#}
{% macro exact_sum(expression, over=none) -%}
    cast(sum(cast({{ expression }} as decimal(38, 10))){% if over %} over ({{ over }}){% endif %} as double)
{%- endmacro %}
