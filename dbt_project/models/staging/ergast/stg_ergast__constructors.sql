with

source as (

    select * from {{ source('ergast', 'ergast__constructors') }}

),

renamed as (

    select
        constructor_id,
        {{ null_if_blank('constructor_ref') }} as constructor_ref,
        {{ null_if_blank('name') }} as constructor_name,
        {{ null_if_blank('nationality') }} as nationality,
        {{ null_if_blank('url') }} as url,
        _source,
        _loaded_at,
        _run_id,

    from source

)

select * from renamed
