with

races as (

    select * from {{ ref('int_races_joined_to_circuits') }}

),

final as (

    select
        race_id,
        season,
        round,
        race_name,
        race_date,
        race_start_time_utc,
        race_start_at,
        circuit_id,
        circuit_name,
        location,
        country,
        is_sprint_weekend,
        rounds_in_season,
        is_final_round,
        url,
        fp1_date,
        fp1_time_utc,
        fp2_date,
        fp2_time_utc,
        fp3_date,
        fp3_time_utc,
        qualifying_date,
        qualifying_time_utc,
        sprint_date,
        sprint_time_utc,
        _source,

    from races

)

select * from final
