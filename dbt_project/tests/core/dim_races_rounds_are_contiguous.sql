-- Each season's rounds are exactly 1..rounds_in_season, so is_final_round (highest round) and
-- rounds_in_season (race count) agree and no round of the calendar is missing.
with

races as (

    select * from {{ ref('dim_races') }}

),

per_season as (

    select
        season,
        min(round) as min_round,
        max(round) as max_round,
        count(*) as races,
        count(*) filter (where is_final_round) as final_rounds,

    from races
    group by season

),

broken as (

    select * from per_season
    where min_round <> 1 or max_round <> races or final_rounds <> 1

)

select * from broken
