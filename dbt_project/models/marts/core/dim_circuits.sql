with

circuits as (

    select * from {{ ref('stg_ergast__circuits') }}

),

final as (

    select
        circuit_id,
        circuit_ref,
        circuit_name,
        location,
        country,
        latitude,
        longitude,
        altitude_m,
        url,
        _source,

    from circuits

)

select * from final
