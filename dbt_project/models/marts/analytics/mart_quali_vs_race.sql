with

results as (
    select * from {{ ref('int_results_rescored_with_modern_points') }}
),

drivers as (
    select * from {{ ref('dim_drivers') }}
),

race_fields as (
    select
        race_id,
        count(*) filter (where is_started) as cars_started,
    from results
    group by race_id
),

driver_race_entries as (
    select
        race_id,
        driver_id,
        count(*) as entries,
    from results
    group by race_id, driver_id
),

counted_results as (
    -- A race counts when the driver was classified and has a starting position: a grid slot, or
    -- a pit-lane start, which is taken as starting last (grid = number of cars that started).
    -- Grid 0 without a pit-lane start (no grid recorded) and shared drives (a car driven by
    -- several drivers, or a driver in several cars: the grid slot was the car's) are left out.
    select
        results.season,
        results.driver_id,
        results.race_id,
        results.finish_position,
        case
            when results.is_pit_lane_start then race_fields.cars_started
            else results.grid
        end as start_position,
        start_position - results.finish_position as positions_gained,
    from results
    inner join race_fields on results.race_id = race_fields.race_id
    inner join driver_race_entries
        on
            results.race_id = driver_race_entries.race_id
            and results.driver_id = driver_race_entries.driver_id
    where
        results.finish_position is not null
        and (results.grid > 0 or results.is_pit_lane_start)
        and results.drivers_sharing_car = 1
        and driver_race_entries.entries = 1
),

driver_seasons as (
    select
        season,
        driver_id,
        count(*) as races_counted,
        sum(positions_gained) as total_positions_gained,
        avg(positions_gained) as avg_positions_gained,
        count(*) filter (where positions_gained > 0) as races_gained,
        count(*) filter (where positions_gained < 0) as races_lost,
        count(*) filter (where positions_gained = 0) as races_unchanged,
        max(positions_gained) as best_positions_gained,
        min(positions_gained) as worst_positions_gained,
        avg(start_position) as avg_start_position,
        avg(finish_position) as avg_finish_position,
    from counted_results
    group by season, driver_id
),

final as (
    select
        driver_seasons.season,
        driver_seasons.driver_id,
        drivers.full_name,
        driver_seasons.races_counted,
        driver_seasons.total_positions_gained,
        driver_seasons.avg_positions_gained,
        driver_seasons.races_gained,
        driver_seasons.races_lost,
        driver_seasons.races_unchanged,
        driver_seasons.best_positions_gained,
        driver_seasons.worst_positions_gained,
        driver_seasons.avg_start_position,
        driver_seasons.avg_finish_position,
    from driver_seasons
    inner join drivers on driver_seasons.driver_id = drivers.driver_id
)

select * from final
