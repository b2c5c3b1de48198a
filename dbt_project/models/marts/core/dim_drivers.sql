with

drivers as (

    select * from {{ ref('stg_ergast__drivers') }}

),

driver_seasons as (

    select * from {{ ref('int_results_aggregated_to_drivers') }}

),

final as (

    select
        drivers.driver_id,
        drivers.driver_ref,
        drivers.driver_code,
        drivers.permanent_number,
        drivers.forename,
        drivers.surname,
        drivers.full_name,
        drivers.date_of_birth,
        drivers.nationality,
        drivers.url,
        driver_seasons.first_season,
        driver_seasons.last_season,
        coalesce(driver_seasons.race_entries, 0) as race_entries,
        drivers._source,

    from drivers
    left join driver_seasons
        on drivers.driver_id = driver_seasons.driver_id

)

select * from final
