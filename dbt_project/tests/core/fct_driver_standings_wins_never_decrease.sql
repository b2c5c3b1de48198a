-- Standings are cumulative within a season: a driver's win count never drops from one round to the
-- next. (Points can: constructors' points were reset or docked, e.g. Force India 2018, Racing Point 2020.)
with

standings as (

    select * from {{ ref('fct_driver_standings') }}

),

with_previous as (

    select
        season,
        round,
        driver_id,
        wins,
        lag(wins) over (partition by season, driver_id order by round) as previous_wins,

    from standings

),

decreases as (

    select * from with_previous
    where wins < previous_wins

)

select * from decreases
