{#- Ergast duration string to integer milliseconds: "ss.sss", "m:ss.sss", "mm:ss.sss" or "h:mm:ss.sss"
    (any number of decimals, rounded to the millisecond). Null, blank, "\N" and anything else that is not a
    duration (a "+5.478" gap, "1:75.000") give null, so a coverage test on the caller catches bad input
    instead of a silently wrong number. Minutes and seconds after a colon must be two digits below 60. -#}
{% macro time_string_to_ms(expression) -%}
    case
        when regexp_full_match(trim({{ expression }}), '\d+(:[0-5]\d){0,2}(\.\d+)?')
            then cast(round((
                coalesce(cast(string_split(trim({{ expression }}), ':')[-3] as bigint), 0) * 3600
                + coalesce(cast(string_split(trim({{ expression }}), ':')[-2] as bigint), 0) * 60
                + cast(string_split(trim({{ expression }}), ':')[-1] as decimal(18, 6))
            ) * 1000) as bigint)
    end
{%- endmacro %}
