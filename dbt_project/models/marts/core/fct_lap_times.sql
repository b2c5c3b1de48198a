with

lap_times as (

    select * from {{ ref('int_lap_times_joined_to_pit_stops') }}

),

final as (

    select
        race_id,
        season,
        round,
        driver_id,
        constructor_id,
        lap,
        position,
        lap_time_ms,
        is_pit_in_lap,
        is_pit_out_lap,
        is_first_lap,
        _source,

    from lap_times

)

select * from final
