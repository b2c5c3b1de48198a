with

lap_times as (

    select * from {{ ref('stg_ergast__lap_times') }}

),

pit_stops as (

    select * from {{ ref('stg_ergast__pit_stops') }}

),

races as (

    select * from {{ ref('int_races_joined_to_circuits') }}

),

race_drivers as (

    select * from {{ ref('int_results_aggregated_to_race_drivers') }}

),

-- one row per lap with a stop, so two stops on the same lap (a drive-through then a stop) do not fan out
pit_laps as (

    select
        race_id,
        driver_id,
        lap,
        count(*) as stops_on_lap,

    from pit_stops
    group by race_id, driver_id, lap

),

joined as (

    select
        lap_times.race_id,
        races.season,
        races.round,
        lap_times.driver_id,
        race_drivers.constructor_id,
        lap_times.lap,
        lap_times.position,
        lap_times.lap_time_ms,
        -- Ergast records a stop on the lap the car entered the pit lane
        in_laps.lap is not null as is_pit_in_lap,
        out_laps.lap is not null as is_pit_out_lap,
        lap_times.lap = 1 as is_first_lap,
        coalesce(in_laps.stops_on_lap, 0) as stops_on_lap,
        lap_times._source,

    from lap_times
    left join races
        on lap_times.race_id = races.race_id
    left join race_drivers
        on lap_times.race_id = race_drivers.race_id
        and lap_times.driver_id = race_drivers.driver_id
    left join pit_laps as in_laps
        on lap_times.race_id = in_laps.race_id
        and lap_times.driver_id = in_laps.driver_id
        and lap_times.lap = in_laps.lap
    left join pit_laps as out_laps
        on lap_times.race_id = out_laps.race_id
        and lap_times.driver_id = out_laps.driver_id
        and lap_times.lap = out_laps.lap + 1

)

select * from joined
