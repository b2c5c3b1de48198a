{#- Each column of `ranges` lies within its [min_value, max_value] (either bound optional,
    `inclusive: false` for strict bounds; nulls pass), as accepted_range does for one column, in
    one query per model. Each failing row names its out-of-range columns (out_of_range_columns). -#}
{% test columns_within_range(model, ranges) %}
{%- set violations = [] -%}
{%- for column, bounds in ranges.items() -%}
    {%- set inclusive = bounds.get('inclusive', true) -%}
    {%- set checks = [] -%}
    {%- if bounds.get('min_value') is not none -%}
        {%- do checks.append(column ~ (' < ' if inclusive else ' <= ') ~ bounds['min_value']) -%}
    {%- endif -%}
    {%- if bounds.get('max_value') is not none -%}
        {%- do checks.append(column ~ (' > ' if inclusive else ' >= ') ~ bounds['max_value']) -%}
    {%- endif -%}
    {%- do violations.append((column, '(' ~ column ~ ' is not null and (' ~ checks | join(' or ') ~ '))')) -%}
{%- endfor %}
select
    concat_ws(
        ', '
        {%- for column, violation in violations %},
        case when {{ violation }} then '{{ column }}' end
        {%- endfor %}
    ) as out_of_range_columns,
    *
from {{ model }}
where
    {%- for column, violation in violations %}
    {{ 'or ' if not loop.first }}{{ violation }}
    {%- endfor %}
{% endtest %}
