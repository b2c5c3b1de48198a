with

results as (
    select * from {{ ref('int_results_rescored_with_modern_points') }}
),

sprint_results as (
    select * from {{ ref('fct_sprint_results') }}
),

driver_standings as (
    select * from {{ ref('fct_driver_standings') }}
),

drivers as (
    select * from {{ ref('dim_drivers') }}
),

constructors as (
    select * from {{ ref('dim_constructors') }}
),

points_exceptions as (
    {{ points_exceptions('mart_driver_season') }}
),

season_races as (
    select
        season,
        count(distinct race_id) as season_races,
    from results
    group by season
),

race_stats as (
    -- Races, wins, podiums and poles count races (a driver who drove two cars in one race in the
    -- 1950s counts once); DNFs count result rows (each car retired counts).
    select
        season,
        driver_id,
        count(distinct race_id) as races_entered,
        count(distinct race_id) filter (where is_started) as races_started,
        count(distinct race_id) filter (where is_classified) as races_classified,
        count(distinct race_id) filter (where is_win) as wins,
        count(distinct race_id) filter (where is_podium) as podiums,
        count(distinct race_id) filter (where is_pole) as poles,
        count(*) filter (where is_dnf) as dnfs,
        count(*) filter (where is_mechanical_dnf) as mechanical_dnfs,
        avg(grid) filter (where grid > 0) as avg_grid,
        avg(finish_position) as avg_finish_position,
        min(finish_position) as best_finish_position,
        {{ exact_sum('points') }} as race_points,
        {{ exact_sum('modern_points') }} as modern_points,
    from results
    group by season, driver_id
),

driver_team_stints as (
    select
        results.season,
        results.driver_id,
        constructors.constructor_name,
        min(results.round) as first_round,
    from results
    inner join constructors on results.constructor_id = constructors.constructor_id
    group by results.season, results.driver_id, constructors.constructor_name
),

driver_teams as (
    -- Teams in the order the driver first raced for them that season.
    select
        season,
        driver_id,
        count(*) as constructors_count,
        string_agg(
            constructor_name, ', ' order by first_round, constructor_name
        ) as constructor_names,
    from driver_team_stints
    group by season, driver_id
),

sprint_stats as (
    select
        season,
        driver_id,
        count(distinct race_id) as sprints,
        {{ exact_sum('points') }} as sprint_points,
    from sprint_results
    group by season, driver_id
),

final_standings as (
    {{ final_standings('driver_standings', 'driver_id') }}
),

driver_seasons as (
    select season, driver_id from race_stats
    union
    select season, driver_id from sprint_stats
    union
    select season, driver_id from final_standings
),

joined as (
    select
        driver_seasons.season,
        driver_seasons.driver_id,
        drivers.driver_ref,
        drivers.full_name,
        drivers.nationality,
        driver_teams.constructor_names,
        coalesce(driver_teams.constructors_count, 0) as constructors_count,
        season_races.season_races,
        coalesce(race_stats.races_entered, 0) as races_entered,
        coalesce(race_stats.races_started, 0) as races_started,
        coalesce(race_stats.races_classified, 0) as races_classified,
        coalesce(sprint_stats.sprints, 0) as sprints,
        coalesce(race_stats.race_points, 0) as race_points,
        coalesce(sprint_stats.sprint_points, 0) as sprint_points,
        coalesce(race_stats.race_points, 0) + coalesce(sprint_stats.sprint_points, 0) as points,
        {{ official_standing_columns('final_standings') }}
        coalesce(race_stats.wins, 0) as wins,
        coalesce(race_stats.podiums, 0) as podiums,
        coalesce(race_stats.poles, 0) as poles,
        coalesce(race_stats.dnfs, 0) as dnfs,
        coalesce(race_stats.mechanical_dnfs, 0) as mechanical_dnfs,
        race_stats.avg_grid,
        race_stats.avg_finish_position,
        race_stats.best_finish_position,
        coalesce(race_stats.modern_points, 0) as modern_points,
    from driver_seasons
    inner join drivers on driver_seasons.driver_id = drivers.driver_id
    left join race_stats
        on
            driver_seasons.season = race_stats.season
            and driver_seasons.driver_id = race_stats.driver_id
    left join sprint_stats
        on
            driver_seasons.season = sprint_stats.season
            and driver_seasons.driver_id = sprint_stats.driver_id
    left join final_standings
        on
            driver_seasons.season = final_standings.season
            and driver_seasons.driver_id = final_standings.driver_id
    left join driver_teams
        on
            driver_seasons.season = driver_teams.season
            and driver_seasons.driver_id = driver_teams.driver_id
    left join season_races on driver_seasons.season = season_races.season
),

final as (
    select
        joined.*,
        joined.points - coalesce(joined.official_points, 0) as points_difference,
        points_exceptions.reason as points_exception_reason,
        points_exceptions.reason is not null as has_points_exception,
        joined.modern_points / nullif(joined.races_started, 0) as modern_points_per_start,
        rank() over (
            partition by joined.season order by joined.modern_points desc
        ) as modern_points_rank,
    from joined
    left join points_exceptions
        on
            joined.season = points_exceptions.season
            and joined.driver_ref = points_exceptions.entity_ref
)

select * from final
