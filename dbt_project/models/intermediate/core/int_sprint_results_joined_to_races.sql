with

sprint_results as (

    select * from {{ ref('stg_ergast__sprint_results') }}

),

races as (

    select * from {{ ref('int_races_joined_to_circuits') }}

),

status as (

    select * from {{ ref('stg_ergast__status') }}

),

joined as (

    select
        sprint_results.result_id,
        sprint_results.race_id,
        races.season,
        races.round,
        coalesce(races.sprint_date, races.race_date) as sprint_date,
        races.circuit_id,
        sprint_results.driver_id,
        sprint_results.constructor_id,
        sprint_results.car_number,
        sprint_results.grid,
        sprint_results.finish_position,
        sprint_results.position_text,
        sprint_results.position_order,
        sprint_results.points,
        sprint_results.laps,
        sprint_results.sprint_time,
        sprint_results.sprint_time_ms,
        sprint_results.fastest_lap,
        sprint_results.fastest_lap_time,
        sprint_results.fastest_lap_time_ms,
        sprint_results.status_id,
        status.status,
        status.status_category,
        status.laps_down,
        sprint_results._source,

    from sprint_results
    left join races
        on sprint_results.race_id = races.race_id
    left join status
        on sprint_results.status_id = status.status_id

)

select * from joined
