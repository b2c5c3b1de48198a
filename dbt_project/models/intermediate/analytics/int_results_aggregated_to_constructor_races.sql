with

results as (
    select * from {{ ref('int_results_rescored_with_modern_points') }}
),

cars as (
    -- One row per car: the drivers of a shared car hold one result each with the same
    -- position_order, so (race, constructor, position_order) identifies the car.
    select
        race_id,
        constructor_id,
        position_order,
        any_value(season) as season,
        any_value(round) as round,
        bool_or(is_started) as is_started,
        bool_or(is_classified) as is_classified,
        bool_or(is_mechanical_dnf) as is_mechanical_dnf,
        bool_or(is_dnf) as is_dnf,
        bool_or(is_win) as is_win,
        bool_or(is_podium) as is_podium,
        min(finish_position) as finish_position,
        min(grid) filter (where grid > 0) as grid,
        bool_or(is_pole) as is_pole,
        {{ exact_sum('points') }} as points,
        {{ exact_sum('modern_points') }} as modern_points,
    from results
    group by race_id, constructor_id, position_order
),

constructor_races as (
    select
        race_id,
        constructor_id,
        any_value(season) as season,
        any_value(round) as round,
        count(*) as cars_entered,
        count(*) filter (where is_started) as cars_started,
        count(*) filter (where is_classified) as cars_classified,
        count(*) filter (where is_dnf) as car_dnfs,
        count(*) filter (where is_mechanical_dnf) as car_mechanical_dnfs,
        bool_or(is_started) as is_started,
        -- The team's best car: lowest position_order among its cars that started.
        min(position_order) filter (where is_started) as best_position_order,
        min(finish_position) as best_finish_position,
        min(grid) as best_grid,
        count(*) filter (where is_win) as wins,
        count(*) filter (where is_podium) as podiums,
        count(*) filter (where finish_position = 1) = 1
        and count(*) filter (where finish_position = 2) = 1 as is_one_two,
        bool_or(is_pole) as has_pole,
        {{ exact_sum('points') }} as race_points,
        {{ exact_sum('modern_points') }} as modern_points,
    from cars
    group by race_id, constructor_id
)

select * from constructor_races
