with

source as (

    select * from {{ source('ergast', 'ergast__drivers') }}

),

renamed as (

    select
        driver_id,
        {{ null_if_blank('driver_ref') }} as driver_ref,
        upper({{ null_if_blank('code') }}) as driver_code,
        number as permanent_number,
        {{ null_if_blank('forename') }} as forename,
        {{ null_if_blank('surname') }} as surname,
        concat_ws(' ', {{ null_if_blank('forename') }}, {{ null_if_blank('surname') }}) as full_name,
        dob as date_of_birth,
        {{ null_if_blank('nationality') }} as nationality,
        {{ null_if_blank('url') }} as url,
        _source,
        _loaded_at,
        _run_id,

    from source

)

select * from renamed
