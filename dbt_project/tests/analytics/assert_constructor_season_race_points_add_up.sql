-- Points add up: per season, the race points in mart_constructor_season (and in
-- mart_driver_season) sum to the points in fct_race_results, so no result is lost or counted
-- twice on the way (shared cars, multi-car teams, drivers changing teams).
with

race_results as (
    select * from {{ ref('fct_race_results') }}
),

constructor_seasons as (
    select * from {{ ref('mart_constructor_season') }}
),

driver_seasons as (
    select * from {{ ref('mart_driver_season') }}
),

result_totals as (
    select
        season,
        sum(points) as points,
    from race_results
    group by season
),

constructor_totals as (
    select
        season,
        sum(race_points) as points,
    from constructor_seasons
    group by season
),

driver_totals as (
    select
        season,
        sum(race_points) as points,
    from driver_seasons
    group by season
),

mismatches as (
    select
        result_totals.season,
        result_totals.points as result_points,
        constructor_totals.points as constructor_points,
        driver_totals.points as driver_points,
    from result_totals
    full outer join constructor_totals on result_totals.season = constructor_totals.season
    full outer join driver_totals on result_totals.season = driver_totals.season
    where
        abs(coalesce(result_totals.points, 0) - coalesce(constructor_totals.points, 0)) > 0.005
        or abs(coalesce(result_totals.points, 0) - coalesce(driver_totals.points, 0)) > 0.005
)

select * from mismatches
