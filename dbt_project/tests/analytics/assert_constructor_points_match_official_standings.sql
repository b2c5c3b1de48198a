-- Computed constructors' points (race + sprint results of all the team's cars) equal the
-- official constructors' standings for every (season, constructor) from 1958, the first
-- constructors' championship, except the exceptions documented in mart_constructor_season's
-- YAML (config.meta.points_exceptions, read from the graph by the points_exceptions macro).
-- A team with points but missing from the standings counts as official 0 and fails too.
with

constructor_seasons as (
    select * from {{ ref('mart_constructor_season') }}
    where has_constructors_championship
),

points_exceptions as (
    {{ points_exceptions('mart_constructor_season') }}
),

mismatches as (
    select
        constructor_seasons.season,
        constructor_seasons.constructor_ref,
        constructor_seasons.points,
        constructor_seasons.official_points,
        constructor_seasons.official_position_text,
    from constructor_seasons
    left join points_exceptions
        on
            constructor_seasons.season = points_exceptions.season
            and constructor_seasons.constructor_ref = points_exceptions.entity_ref
    where
        abs(
            constructor_seasons.points - coalesce(constructor_seasons.official_points, 0)
        ) > 0.005
        and points_exceptions.season is null
)

select * from mismatches
