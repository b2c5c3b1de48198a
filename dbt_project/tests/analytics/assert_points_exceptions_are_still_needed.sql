-- The documented points exceptions stay exact: an exception whose (season, driver/constructor)
-- is in the data but whose computed and official points now agree is stale and fails here.
-- Exceptions for entities absent from the loaded data (e.g. the synthetic demo) are ignored.
with

driver_seasons as (
    select * from {{ ref('mart_driver_season') }}
),

constructor_seasons as (
    select * from {{ ref('mart_constructor_season') }}
),

driver_exceptions as (
    {{ points_exceptions('mart_driver_season') }}
),

constructor_exceptions as (
    {{ points_exceptions('mart_constructor_season') }}
),

stale as (
    select
        'mart_driver_season' as model_name,
        driver_exceptions.season,
        driver_exceptions.entity_ref,
    from driver_exceptions
    inner join driver_seasons
        on
            driver_exceptions.season = driver_seasons.season
            and driver_exceptions.entity_ref = driver_seasons.driver_ref
    where abs(driver_seasons.points_difference) <= 0.005

    union all

    select
        'mart_constructor_season' as model_name,
        constructor_exceptions.season,
        constructor_exceptions.entity_ref,
    from constructor_exceptions
    inner join constructor_seasons
        on
            constructor_exceptions.season = constructor_seasons.season
            and constructor_exceptions.entity_ref = constructor_seasons.constructor_ref
    where abs(constructor_seasons.points_difference) <= 0.005
)

select * from stale
