{#- None of `columns` is null: a model's required columns in one query instead of one test per
    column. Each failing row names its null columns (null_columns). -#}
{% test not_null_columns(model, columns) %}
select
    concat_ws(
        ', '
        {%- for column in columns %},
        case when {{ column }} is null then '{{ column }}' end
        {%- endfor %}
    ) as null_columns,
    *
from {{ model }}
where
    {%- for column in columns %}
    {{ 'or ' if not loop.first }}{{ column }} is null
    {%- endfor %}
{% endtest %}
