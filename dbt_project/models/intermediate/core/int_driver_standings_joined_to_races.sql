with

driver_standings as (

    select * from {{ ref('stg_ergast__driver_standings') }}

),

races as (

    select * from {{ ref('int_races_joined_to_circuits') }}

),

joined as (

    select
        driver_standings.driver_standings_id,
        driver_standings.race_id,
        races.season,
        races.round,
        races.race_date,
        races.is_final_round,
        driver_standings.driver_id,
        driver_standings.points,
        driver_standings.position,
        driver_standings.position_text,
        driver_standings.wins,
        driver_standings._source,

    from driver_standings
    left join races
        on driver_standings.race_id = races.race_id

)

select * from joined
