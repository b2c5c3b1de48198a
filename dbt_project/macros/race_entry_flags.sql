{#- Derived flags of one race (or sprint) entry, shared by fct_race_results and fct_sprint_results so both
    define them identically. Expects the columns grid, finish_position, position_text, position_order, laps
    and status_category on the relation in scope; the meaning of each flag is documented on the models.
    - started: any lap completed, or neither withdrawn/failed to qualify (position_text W/F) nor in a
      did_not_start/did_not_qualify status. "Withdrew" alone is not enough: some withdrew mid-race.
    - dnf: started, not disqualified and not finished (finished/lapped). That is every started car with a
      mechanical/accident/retired_other status, plus the few that started and then "Withdrew". A car
      classified after retiring near the end is both classified and a DNF. -#}
{% macro race_entry_flags() -%}
        (
            laps > 0
            or (
                coalesce(position_text, '') not in ('W', 'F')
                and status_category not in ('did_not_start', 'did_not_qualify')
            )
        ) as is_started,
        finish_position is not null as is_classified,
        status_category in ('finished', 'lapped') as is_finished,
        (
            status_category = 'disqualified'
            or coalesce(position_text, '') in ('D', 'E')
        ) as is_disqualified,
        coalesce(finish_position = 1, false) as is_win,
        coalesce(finish_position <= 3, false) as is_podium,
        grid = 1 as is_pole
{%- endmacro %}

{#- Flags built on race_entry_flags(): select them from the CTE that computed those. -#}
{% macro race_entry_outcome_flags() -%}
        is_started
        and not is_disqualified
        and not is_finished as is_dnf,
        is_started
        and not is_disqualified
        and status_category = 'mechanical' as is_mechanical_dnf,
        grid = 0 and is_started as is_pit_lane_start,
        case
            when grid > 0 and is_classified then grid - position_order
        end as positions_gained
{%- endmacro %}
