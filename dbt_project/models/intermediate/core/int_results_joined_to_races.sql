with

results as (

    select * from {{ ref('stg_ergast__results') }}

),

races as (

    select * from {{ ref('int_races_joined_to_circuits') }}

),

status as (

    select * from {{ ref('stg_ergast__status') }}

),

joined as (

    select
        results.result_id,
        results.race_id,
        races.season,
        races.round,
        races.race_date,
        races.circuit_id,
        results.driver_id,
        results.constructor_id,
        results.car_number,
        results.grid,
        results.finish_position,
        results.position_text,
        results.position_order,
        results.points,
        results.laps,
        results.race_time,
        results.race_time_ms,
        results.fastest_lap,
        results.fastest_lap_rank,
        results.fastest_lap_time,
        results.fastest_lap_time_ms,
        results.fastest_lap_speed_kph,
        results.status_id,
        status.status,
        status.status_category,
        status.laps_down,
        -- 1950s-60s shared drives: one driver credited with two or three cars in the same race
        count(*) over (partition by results.race_id, results.driver_id) > 1 as is_shared_drive,
        results._source,

    from results
    left join races
        on results.race_id = races.race_id
    left join status
        on results.status_id = status.status_id

)

select * from joined
