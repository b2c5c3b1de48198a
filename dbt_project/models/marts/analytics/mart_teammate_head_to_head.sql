with

results as (
    select * from {{ ref('int_results_rescored_with_modern_points') }}
),

qualifying as (
    select * from {{ ref('fct_qualifying') }}
),

drivers as (
    select * from {{ ref('dim_drivers') }}
),

race_entries as (
    -- One row per (race, team, driver); a driver who drove two of the team's cars in one race
    -- (1950s shared drives) is represented by his best one.
    select
        race_id,
        constructor_id,
        driver_id,
        any_value(season) as season,
        bool_or(is_started) as is_started,
        min(position_order) filter (where is_started) as best_position_order,
        min(finish_position) as finish_position,
        min(grid) filter (where grid > 0) as grid,
        {{ exact_sum('points') }} as points,
    from results
    group by race_id, constructor_id, driver_id
),

qualifying_entries as (
    select
        race_id,
        constructor_id,
        driver_id,
        any_value(season) as season,
        min(qualifying_position) as qualifying_position,
    from qualifying
    where qualifying_position is not null
    group by race_id, constructor_id, driver_id
),

entries as (
    select
        coalesce(race_entries.race_id, qualifying_entries.race_id) as race_id,
        coalesce(race_entries.constructor_id, qualifying_entries.constructor_id) as constructor_id,
        coalesce(race_entries.driver_id, qualifying_entries.driver_id) as driver_id,
        coalesce(race_entries.season, qualifying_entries.season) as season,
        coalesce(race_entries.is_started, false) as is_started,
        race_entries.best_position_order,
        race_entries.finish_position,
        race_entries.grid,
        coalesce(race_entries.points, 0) as points,
        qualifying_entries.qualifying_position,
    from race_entries
    full outer join qualifying_entries
        on
            race_entries.race_id = qualifying_entries.race_id
            and race_entries.constructor_id = qualifying_entries.constructor_id
            and race_entries.driver_id = qualifying_entries.driver_id
),

race_pairs as (
    -- Each pair of team-mates once per race (driver_a_id < driver_b_id). A duel needs both
    -- drivers to have the measure and the two values to differ (two drivers who shared one car
    -- hold the same position: no duel).
    select
        driver_a.season,
        driver_a.race_id,
        driver_a.constructor_id,
        driver_a.driver_id as driver_a_id,
        driver_b.driver_id as driver_b_id,
        driver_a.qualifying_position as qualifying_position_a,
        driver_b.qualifying_position as qualifying_position_b,
        driver_a.grid as grid_a,
        driver_b.grid as grid_b,
        driver_a.finish_position as finish_position_a,
        driver_b.finish_position as finish_position_b,
        driver_a.best_position_order as position_order_a,
        driver_b.best_position_order as position_order_b,
        driver_a.points as points_a,
        driver_b.points as points_b,
    from entries as driver_a
    inner join entries as driver_b
        on
            driver_a.race_id = driver_b.race_id
            and driver_a.constructor_id = driver_b.constructor_id
            and driver_a.driver_id < driver_b.driver_id
),

season_pairs as (
    select
        season,
        constructor_id,
        driver_a_id,
        driver_b_id,
        count(*) as races_together,
        count(*) filter (
            where qualifying_position_a != qualifying_position_b
        ) as qualifying_duels,
        count(*) filter (
            where qualifying_position_a < qualifying_position_b
        ) as qualifying_wins_a,
        count(*) filter (
            where qualifying_position_b < qualifying_position_a
        ) as qualifying_wins_b,
        count(*) filter (where grid_a != grid_b) as grid_duels,
        count(*) filter (where grid_a < grid_b) as grid_wins_a,
        count(*) filter (where grid_b < grid_a) as grid_wins_b,
        count(*) filter (where finish_position_a != finish_position_b) as race_duels,
        count(*) filter (where finish_position_a < finish_position_b) as race_wins_a,
        count(*) filter (where finish_position_b < finish_position_a) as race_wins_b,
        count(*) filter (where position_order_a != position_order_b) as race_order_duels,
        count(*) filter (where position_order_a < position_order_b) as race_order_wins_a,
        count(*) filter (where position_order_b < position_order_a) as race_order_wins_b,
        {{ exact_sum('points_a') }} as points_a,
        {{ exact_sum('points_b') }} as points_b,
    from race_pairs
    group by season, constructor_id, driver_a_id, driver_b_id
),

final as (
    select
        season_pairs.season,
        season_pairs.constructor_id,
        season_pairs.driver_a_id,
        season_pairs.driver_b_id,
        driver_a.full_name as driver_a_name,
        driver_b.full_name as driver_b_name,
        season_pairs.races_together,
        season_pairs.qualifying_duels,
        season_pairs.qualifying_wins_a,
        season_pairs.qualifying_wins_b,
        season_pairs.grid_duels,
        season_pairs.grid_wins_a,
        season_pairs.grid_wins_b,
        season_pairs.race_duels,
        season_pairs.race_wins_a,
        season_pairs.race_wins_b,
        season_pairs.race_order_duels,
        season_pairs.race_order_wins_a,
        season_pairs.race_order_wins_b,
        season_pairs.points_a,
        season_pairs.points_b,
    from season_pairs
    inner join drivers as driver_a on season_pairs.driver_a_id = driver_a.driver_id
    inner join drivers as driver_b on season_pairs.driver_b_id = driver_b.driver_id
)

select * from final
