with

source as (

    select * from {{ source('ergast', 'ergast__sprint_results') }}

),

renamed as (

    select
        result_id,
        race_id,
        driver_id,
        constructor_id,
        number as car_number,
        grid,
        coalesce(position, try_cast({{ null_if_blank('position_text') }} as integer)) as finish_position,
        {{ null_if_blank('position_text') }} as position_text,
        position_order,
        points,
        laps,
        {{ null_if_blank('time') }} as sprint_time,
        milliseconds as sprint_time_ms,
        fastest_lap,
        {{ null_if_blank('fastest_lap_time') }} as fastest_lap_time,
        {{ time_string_to_ms('fastest_lap_time') }} as fastest_lap_time_ms,
        status_id,
        _source,
        _season,
        _loaded_at,
        _run_id,

    from source

)

select * from renamed
