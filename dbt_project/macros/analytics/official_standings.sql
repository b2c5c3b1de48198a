{#- The official championship figures of one season, shared by mart_driver_season and
    mart_constructor_season so both apply the same rules. -#}

{#- The last standings published in each season of `standings` (a CTE or relation of
    fct_*_standings): the final official classification once the season is over, the current one
    while it runs. `entity_id` is driver_id or constructor_id; `where` optionally limits seasons. -#}
{% macro final_standings(standings, entity_id, where=none) %}
    select
        {{ standings }}.season,
        {{ standings }}.{{ entity_id }},
        {{ standings }}.round as standings_round,
        {{ standings }}.points as standings_points,
        {{ standings }}.position as standings_position,
        {{ standings }}.position_text as standings_position_text,
    from {{ standings }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
    qualify
        {{ standings }}.round
        = max({{ standings }}.round) over (partition by {{ standings }}.season)
{% endmacro %}

{#- Columns read from a `final_standings` CTE (above). An excluded entry (Schumacher 1997,
    position_text D; McLaren 2007, E) keeps its points in Ergast's table but is not classified:
    the championship credits it nothing and gives it no position. -#}
{% macro official_standing_columns(final_standings='final_standings') %}
        {{ final_standings }}.standings_points,
        coalesce(
            {{ final_standings }}.standings_position_text in ('D', 'E'), false
        ) as is_excluded_from_championship,
        case
            when {{ final_standings }}.standings_position_text in ('D', 'E') then 0
            else {{ final_standings }}.standings_points
        end as official_points,
        case
            when {{ final_standings }}.standings_position_text not in ('D', 'E')
                then {{ final_standings }}.standings_position
        end as official_position,
        {{ final_standings }}.standings_position_text as official_position_text,
        {{ final_standings }}.standings_round,
{% endmacro %}
