with

source as (

    select * from {{ source('ergast', 'ergast__circuits') }}

),

renamed as (

    select
        circuit_id,
        {{ null_if_blank('circuit_ref') }} as circuit_ref,
        {{ null_if_blank('name') }} as circuit_name,
        {{ null_if_blank('location') }} as location,
        {{ null_if_blank('country') }} as country,
        lat as latitude,
        lng as longitude,
        alt as altitude_m,
        {{ null_if_blank('url') }} as url,
        _source,
        _loaded_at,
        _run_id,

    from source

)

select * from renamed
