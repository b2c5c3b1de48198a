{#- The documented exceptions to "computed points = official points" of one mart, as a query
    with one row per (season, entity_ref, reason). They live in the mart's YAML under
    config.meta.points_exceptions ({season, refs, reason}; refs are driver_ref or constructor_ref
    values) and are read from the graph at compile time, so the YAML is their only source: the
    mart shows the reason on each affected row and the singular tests in tests/analytics/ excuse
    exactly these rows. -#}
{% macro points_exceptions(model_name) %}
    {%- set rows = [] -%}
    {%- if execute -%}
        {%- if graph.nodes is defined -%}
            {%- set nodes = graph.nodes.values()
                | selectattr('resource_type', 'equalto', 'model')
                | selectattr('name', 'equalto', model_name) | list -%}
            {%- if nodes | length != 1 -%}
                {{ exceptions.raise_compiler_error("points_exceptions: no model " ~ model_name) }}
            {%- endif -%}
            {%- set meta = nodes[0].config.meta -%}
        {%- else -%}
            {#- Unit tests compile without the graph: no exceptions, unless the unit test
                overrides this macro (overrides: macros: points_exceptions: <query>). -#}
            {%- set meta = {} -%}
        {%- endif -%}
        {%- for exception in meta.get('points_exceptions', []) -%}
            {%- if exception.season is not number or not exception.refs
                or not exception.reason -%}
                {{ exceptions.raise_compiler_error(
                    model_name ~ ": a points exception needs an integer season, refs and a "
                    ~ "reason: " ~ exception) }}
            {%- endif -%}
            {%- for entity_ref in exception.refs -%}
                {%- do rows.append((exception.season, entity_ref, exception.reason)) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if rows %}
    select * from (
        values
        {%- for season, entity_ref, reason in rows %}
            (
                {{ season }},
                '{{ entity_ref }}',
                '{{ reason | replace("'", "''") }}'
            ){{ ',' if not loop.last }}
        {%- endfor %}
    ) as points_exceptions (season, entity_ref, reason)
    {%- else %}
    select
        null::integer as season,
        null::varchar as entity_ref,
        null::varchar as reason,
    where false
    {%- endif %}
{% endmacro %}
