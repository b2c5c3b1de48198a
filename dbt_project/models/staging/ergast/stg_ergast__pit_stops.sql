with

source as (

    select * from {{ source('ergast', 'ergast__pit_stops') }}

),

renamed as (

    select
        race_id,
        driver_id,
        stop,
        lap,
        time as stop_time_local,
        {{ null_if_blank('duration') }} as duration,
        -- prefer the source's milliseconds; parse the duration string where an API row has none
        coalesce(milliseconds, {{ time_string_to_ms('duration') }}) as duration_ms,
        _source,
        _season,
        _loaded_at,
        _run_id,

    from source

)

select * from renamed
