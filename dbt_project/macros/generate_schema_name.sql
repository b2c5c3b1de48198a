{#- Use each layer's schema name as is (staging, intermediate, marts), not dbt's default
    "<target schema>_<custom schema>", so tables land where the Dagster asset keys say. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
