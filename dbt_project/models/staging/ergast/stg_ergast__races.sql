with

source as (

    select * from {{ source('ergast', 'ergast__races') }}

),

renamed as (

    select
        race_id,
        year as season,
        round,
        circuit_id,
        {{ null_if_blank('name') }} as race_name,
        date as race_date,
        time as race_start_time_utc,
        -- naive timestamp holding UTC, like every *_at column; null before start times were recorded
        date + time as race_start_at,
        {{ null_if_blank('url') }} as url,
        fp1_date,
        fp1_time as fp1_time_utc,
        fp2_date,
        fp2_time as fp2_time_utc,
        fp3_date,
        fp3_time as fp3_time_utc,
        quali_date as qualifying_date,
        quali_time as qualifying_time_utc,
        sprint_date,
        sprint_time as sprint_time_utc,
        _source,
        _season,
        _loaded_at,
        _run_id,

    from source

)

select * from renamed
