-- Computed drivers' points (race + sprint results) equal the official standings for every
-- (season, driver), except the exceptions documented in mart_driver_season's YAML
-- (config.meta.points_exceptions, read from the graph by the points_exceptions macro).
-- A driver with points but missing from the standings counts as official 0 and fails too.
with

driver_seasons as (
    select * from {{ ref('mart_driver_season') }}
),

points_exceptions as (
    {{ points_exceptions('mart_driver_season') }}
),

mismatches as (
    select
        driver_seasons.season,
        driver_seasons.driver_ref,
        driver_seasons.points,
        driver_seasons.official_points,
        driver_seasons.official_position_text,
    from driver_seasons
    left join points_exceptions
        on
            driver_seasons.season = points_exceptions.season
            and driver_seasons.driver_ref = points_exceptions.entity_ref
    where
        abs(driver_seasons.points - coalesce(driver_seasons.official_points, 0)) > 0.005
        and points_exceptions.season is null
)

select * from mismatches
