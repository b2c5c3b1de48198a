{#- The constructors' championship started in 1958; before it there is no official figure. -#}
{%- set first_constructors_championship = 1958 -%}

with

results as (
    select * from {{ ref('int_results_rescored_with_modern_points') }}
),

constructor_races as (
    select * from {{ ref('int_results_aggregated_to_constructor_races') }}
),

sprint_results as (
    select * from {{ ref('fct_sprint_results') }}
),

constructor_standings as (
    select * from {{ ref('fct_constructor_standings') }}
),

constructors as (
    select * from {{ ref('dim_constructors') }}
),

drivers as (
    select * from {{ ref('dim_drivers') }}
),

points_exceptions as (
    {{ points_exceptions('mart_constructor_season') }}
),

race_stats as (
    -- Counts are per car (a car shared by two drivers counts once): car_starts is the
    -- denominator of the mechanical DNF rate.
    select
        season,
        constructor_id,
        count(*) as races_entered,
        count(*) filter (where is_started) as races_started,
        sum(cars_entered) as car_entries,
        sum(cars_started) as car_starts,
        sum(cars_classified) as car_classified_finishes,
        sum(wins) as wins,
        sum(podiums) as podiums,
        count(*) filter (where is_one_two) as one_twos,
        count(*) filter (where has_pole) as poles,
        sum(car_dnfs) as dnfs,
        sum(car_mechanical_dnfs) as mechanical_dnfs,
        min(best_finish_position) as best_finish_position,
        {{ exact_sum('race_points') }} as race_points,
        {{ exact_sum('modern_points') }} as modern_points,
    from constructor_races
    group by season, constructor_id
),

result_averages as (
    select
        season,
        constructor_id,
        avg(grid) filter (where grid > 0) as avg_grid,
        avg(finish_position) as avg_finish_position,
    from results
    group by season, constructor_id
),

constructor_driver_stints as (
    select
        results.season,
        results.constructor_id,
        drivers.full_name,
        min(results.round) as first_round,
    from results
    inner join drivers on results.driver_id = drivers.driver_id
    group by results.season, results.constructor_id, drivers.full_name
),

constructor_drivers as (
    -- Drivers in the order of their first race for the team that season.
    select
        season,
        constructor_id,
        count(*) as drivers_count,
        string_agg(full_name, ', ' order by first_round, full_name) as driver_names,
    from constructor_driver_stints
    group by season, constructor_id
),

sprint_stats as (
    select
        season,
        constructor_id,
        {{ exact_sum('points') }} as sprint_points,
    from sprint_results
    group by season, constructor_id
),

final_standings as (
    {{ final_standings(
        'constructor_standings',
        'constructor_id',
        where='constructor_standings.season >= ' ~ first_constructors_championship
    ) }}
),

constructor_seasons as (
    select season, constructor_id from race_stats
    union
    select season, constructor_id from sprint_stats
    union
    select season, constructor_id from final_standings
),

joined as (
    select
        constructor_seasons.season,
        constructor_seasons.constructor_id,
        constructors.constructor_ref,
        constructors.constructor_name,
        constructors.nationality,
        constructor_drivers.driver_names,
        coalesce(constructor_drivers.drivers_count, 0) as drivers_count,
        coalesce(race_stats.races_entered, 0) as races_entered,
        coalesce(race_stats.races_started, 0) as races_started,
        coalesce(race_stats.car_entries, 0) as car_entries,
        coalesce(race_stats.car_starts, 0) as car_starts,
        coalesce(race_stats.car_classified_finishes, 0) as car_classified_finishes,
        coalesce(race_stats.race_points, 0) as race_points,
        coalesce(sprint_stats.sprint_points, 0) as sprint_points,
        coalesce(race_stats.race_points, 0) + coalesce(sprint_stats.sprint_points, 0) as points,
        constructor_seasons.season
        >= {{ first_constructors_championship }} as has_constructors_championship,
        {{ official_standing_columns('final_standings') }}
        coalesce(race_stats.wins, 0) as wins,
        coalesce(race_stats.podiums, 0) as podiums,
        coalesce(race_stats.one_twos, 0) as one_twos,
        coalesce(race_stats.poles, 0) as poles,
        coalesce(race_stats.dnfs, 0) as dnfs,
        coalesce(race_stats.mechanical_dnfs, 0) as mechanical_dnfs,
        result_averages.avg_grid,
        result_averages.avg_finish_position,
        race_stats.best_finish_position,
        coalesce(race_stats.modern_points, 0) as modern_points,
    from constructor_seasons
    inner join constructors on constructor_seasons.constructor_id = constructors.constructor_id
    left join race_stats
        on
            constructor_seasons.season = race_stats.season
            and constructor_seasons.constructor_id = race_stats.constructor_id
    left join sprint_stats
        on
            constructor_seasons.season = sprint_stats.season
            and constructor_seasons.constructor_id = sprint_stats.constructor_id
    left join final_standings
        on
            constructor_seasons.season = final_standings.season
            and constructor_seasons.constructor_id = final_standings.constructor_id
    left join result_averages
        on
            constructor_seasons.season = result_averages.season
            and constructor_seasons.constructor_id = result_averages.constructor_id
    left join constructor_drivers
        on
            constructor_seasons.season = constructor_drivers.season
            and constructor_seasons.constructor_id = constructor_drivers.constructor_id
),

final as (
    select
        joined.*,
        -- A team missing from the standings of a championship season (the Indianapolis 500
        -- constructors of 1958-1960) was credited nothing.
        case
            when joined.has_constructors_championship
                then joined.points - coalesce(joined.official_points, 0)
        end as points_difference,
        points_exceptions.reason as points_exception_reason,
        points_exceptions.reason is not null as has_points_exception,
        joined.mechanical_dnfs / nullif(joined.car_starts, 0) as mechanical_dnf_rate,
        joined.points / nullif(
            {{ exact_sum('joined.points', over='partition by joined.season') }}, 0
        ) as points_share,
        joined.modern_points / nullif(
            {{ exact_sum('joined.modern_points', over='partition by joined.season') }}, 0
        ) as modern_points_share,
        rank() over (
            partition by joined.season order by joined.modern_points desc
        ) as modern_points_rank,
    from joined
    left join points_exceptions
        on
            joined.season = points_exceptions.season
            and joined.constructor_ref = points_exceptions.entity_ref
)

select * from final
