with

source as (

    select * from {{ source('ergast', 'ergast__seasons') }}

),

renamed as (

    select
        year as season,
        {{ null_if_blank('url') }} as url,
        _source,
        _loaded_at,
        _run_id,

    from source

)

select * from renamed
