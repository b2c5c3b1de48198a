with

race_results as (
    select * from {{ ref('fct_race_results') }}
),

modern_scoring as (
    select * from {{ ref('modern_scoring') }}
),

shared_cars as (
    -- A shared drive (1950s) is one car and one classified position held by several drivers,
    -- one result row each; the modern points of that position are split equally between them,
    -- as the period rules split the official points.
    select
        race_id,
        finish_position,
        count(*) as drivers_sharing_car,
    from race_results
    where finish_position is not null
    group by race_id, finish_position
),

rescored as (
    select
        race_results.result_id,
        race_results.race_id,
        race_results.season,
        race_results.round,
        race_results.race_date,
        race_results.circuit_id,
        race_results.driver_id,
        race_results.constructor_id,
        race_results.grid,
        race_results.is_pit_lane_start,
        race_results.finish_position,
        race_results.position_order,
        race_results.points,
        race_results.status_category,
        race_results.is_started,
        race_results.is_classified,
        race_results.is_dnf,
        race_results.is_mechanical_dnf,
        race_results.is_win,
        race_results.is_podium,
        race_results.is_pole,
        coalesce(shared_cars.drivers_sharing_car, 1) as drivers_sharing_car,
        coalesce(modern_scoring.points, 0.0)
        / coalesce(shared_cars.drivers_sharing_car, 1) as modern_points,
    from race_results
    left join shared_cars
        on
            race_results.race_id = shared_cars.race_id
            and race_results.finish_position = shared_cars.finish_position
    left join modern_scoring
        on race_results.finish_position = modern_scoring.finish_position
)

select * from rescored
