with

source as (

    select * from {{ source('ergast', 'ergast__constructor_results') }}

),

renamed as (

    select
        constructor_results_id,
        race_id,
        constructor_id,
        points,
        {{ null_if_blank('status') }} as status_code,
        coalesce({{ null_if_blank('status') }} = 'D', false) as is_disqualified,
        _source,
        _season,
        _loaded_at,
        _run_id,

    from source

)

select * from renamed
