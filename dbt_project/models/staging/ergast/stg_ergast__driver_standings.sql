with

source as (

    select * from {{ source('ergast', 'ergast__driver_standings') }}

),

renamed as (

    select
        driver_standings_id,
        race_id,
        driver_id,
        points,
        position,
        {{ null_if_blank('position_text') }} as position_text,
        wins,
        _source,
        _season,
        _loaded_at,
        _run_id,

    from source

)

select * from renamed
