{#- Normalise the textual nulls of the Ergast formats (empty or blank string, the MySQL dump's "\N") to
    SQL null and trim the rest. The raw loader already converts most of them; staging does it again so
    every source (dump, API, demo) yields the same nulls. -#}
{% macro null_if_blank(expression) -%}
    nullif(nullif(trim({{ expression }}), ''), '\N')
{%- endmacro %}
