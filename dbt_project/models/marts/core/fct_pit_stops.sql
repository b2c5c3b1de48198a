with

pit_stops as (

    select * from {{ ref('int_pit_stops_joined_to_races') }}

),

final as (

    select
        race_id,
        season,
        round,
        driver_id,
        constructor_id,
        stop,
        lap,
        stop_time_local,
        duration_ms,
        -- the car sat in the pit lane through a red flag: real stops last under a minute, and the
        -- README's red-flag stops run from 6 minutes up (no stop in the dump lasts 3 to 6 minutes)
        duration_ms > {{ var('red_flag_stop_min_ms', 300000) }} as is_red_flag_stop,
        _source,

    from pit_stops

)

select * from final
