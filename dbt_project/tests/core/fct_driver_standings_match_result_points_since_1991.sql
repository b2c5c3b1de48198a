-- Since 1991 every race result has counted (no dropped scores), so a driver's standings points after a
-- round equal the sum of their race and sprint points up to that round. A mismatch means results or
-- sprint results for a round are missing or duplicated (e.g. a partial incremental load). Earlier
-- seasons used best-N-results rules, so they are not checked.
with

standings as (

    select * from {{ ref('fct_driver_standings') }}

),

race_results as (

    select * from {{ ref('fct_race_results') }}

),

sprint_results as (

    select * from {{ ref('fct_sprint_results') }}

),

points_per_round as (

    select season, round, driver_id, points from race_results
    union all
    select season, round, driver_id, points from sprint_results

),

points_by_round as (

    select
        season,
        round,
        driver_id,
        sum(points) as points,

    from points_per_round
    where season >= 1991
    group by season, round, driver_id

),

standings_since_1991 as (

    select * from standings
    where season >= 1991

),

compared as (

    select
        standings_since_1991.season,
        standings_since_1991.round,
        standings_since_1991.driver_id,
        standings_since_1991.points as standings_points,
        coalesce(sum(points_by_round.points), 0) as result_points,

    from standings_since_1991
    left join points_by_round
        on standings_since_1991.season = points_by_round.season
        and standings_since_1991.driver_id = points_by_round.driver_id
        and points_by_round.round <= standings_since_1991.round
    group by
        standings_since_1991.season,
        standings_since_1991.round,
        standings_since_1991.driver_id,
        standings_since_1991.points

),

mismatches as (

    select * from compared
    where abs(standings_points - result_points) > 0.001

)

select * from mismatches
