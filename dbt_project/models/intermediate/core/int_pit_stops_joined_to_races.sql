with

pit_stops as (

    select * from {{ ref('stg_ergast__pit_stops') }}

),

races as (

    select * from {{ ref('int_races_joined_to_circuits') }}

),

race_drivers as (

    select * from {{ ref('int_results_aggregated_to_race_drivers') }}

),

joined as (

    select
        pit_stops.race_id,
        races.season,
        races.round,
        pit_stops.driver_id,
        race_drivers.constructor_id,
        pit_stops.stop,
        pit_stops.lap,
        pit_stops.stop_time_local,
        pit_stops.duration,
        pit_stops.duration_ms,
        pit_stops._source,

    from pit_stops
    left join races
        on pit_stops.race_id = races.race_id
    left join race_drivers
        on pit_stops.race_id = race_drivers.race_id
        and pit_stops.driver_id = race_drivers.driver_id

)

select * from joined
