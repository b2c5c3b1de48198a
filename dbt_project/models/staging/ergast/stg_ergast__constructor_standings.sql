with

source as (

    select * from {{ source('ergast', 'ergast__constructor_standings') }}

),

renamed as (

    select
        constructor_standings_id,
        race_id,
        constructor_id,
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
