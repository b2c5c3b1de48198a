with

results as (

    select * from {{ ref('int_results_joined_to_races') }}

),

aggregated as (

    select
        driver_id,
        min(season) as first_season,
        max(season) as last_season,
        count(distinct race_id) as race_entries,

    from results
    group by driver_id

)

select * from aggregated
