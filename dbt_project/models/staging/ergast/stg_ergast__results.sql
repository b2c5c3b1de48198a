with

source as (

    select * from {{ source('ergast', 'ergast__results') }}

),

renamed as (

    select
        result_id,
        race_id,
        driver_id,
        constructor_id,
        number as car_number,
        grid,
        -- two 2005 rows carry a numeric position_text with a null position; the text is the classification
        coalesce(position, try_cast({{ null_if_blank('position_text') }} as integer)) as finish_position,
        {{ null_if_blank('position_text') }} as position_text,
        position_order,
        points,
        laps,
        {{ null_if_blank('time') }} as race_time,
        milliseconds as race_time_ms,
        fastest_lap,
        -- The dump writes 0 for a car with no timed lap (2011 on), the API leaves it out: null.
        nullif(rank, 0) as fastest_lap_rank,
        {{ null_if_blank('fastest_lap_time') }} as fastest_lap_time,
        {{ time_string_to_ms('fastest_lap_time') }} as fastest_lap_time_ms,
        fastest_lap_speed as fastest_lap_speed_kph,
        status_id,
        _source,
        _season,
        _loaded_at,
        _run_id,

    from source

)

select * from renamed
