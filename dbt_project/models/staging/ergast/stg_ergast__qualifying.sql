with

source as (

    select * from {{ source('ergast', 'ergast__qualifying') }}

),

renamed as (

    select
        qualify_id,
        race_id,
        driver_id,
        constructor_id,
        number as car_number,
        position as qualifying_position,
        {{ null_if_blank('q1') }} as q1_time,
        {{ null_if_blank('q2') }} as q2_time,
        {{ null_if_blank('q3') }} as q3_time,
        {{ time_string_to_ms('q1') }} as q1_ms,
        {{ time_string_to_ms('q2') }} as q2_ms,
        {{ time_string_to_ms('q3') }} as q3_ms,
        _source,
        _season,
        _loaded_at,
        _run_id,

    from source

)

select * from renamed
