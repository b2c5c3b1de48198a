{#- One row per (race, driver): collapses the 1950s-60s shared drives so lap and pit-stop rows, which are
    keyed by (race, driver), can pick up a constructor without fanning out. -#}
with

results as (

    select * from {{ ref('stg_ergast__results') }}

),

aggregated as (

    select
        race_id,
        driver_id,
        -- with a shared drive, the car the driver was classified best in
        arg_min(constructor_id, position_order) as constructor_id,
        count(*) as entries,

    from results
    group by race_id, driver_id

)

select * from aggregated
