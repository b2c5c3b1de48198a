with

constructor_standings as (

    select * from {{ ref('stg_ergast__constructor_standings') }}

),

races as (

    select * from {{ ref('int_races_joined_to_circuits') }}

),

joined as (

    select
        constructor_standings.constructor_standings_id,
        constructor_standings.race_id,
        races.season,
        races.round,
        races.race_date,
        races.is_final_round,
        constructor_standings.constructor_id,
        constructor_standings.points,
        constructor_standings.position,
        constructor_standings.position_text,
        constructor_standings.wins,
        constructor_standings._source,

    from constructor_standings
    left join races
        on constructor_standings.race_id = races.race_id

)

select * from joined
