with

source as (

    select * from {{ source('ergast', 'ergast__lap_times') }}

),

renamed as (

    select
        race_id,
        driver_id,
        lap,
        position,
        {{ null_if_blank('time') }} as lap_time,
        -- the source's milliseconds column is always filled and equals the parsed time string
        milliseconds as lap_time_ms,
        _source,
        _season,
        _loaded_at,
        _run_id,

    from source

)

select * from renamed
