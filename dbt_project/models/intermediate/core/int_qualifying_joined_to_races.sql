with

qualifying as (

    select * from {{ ref('stg_ergast__qualifying') }}

),

races as (

    select * from {{ ref('int_races_joined_to_circuits') }}

),

joined as (

    select
        qualifying.qualify_id,
        qualifying.race_id,
        races.season,
        races.round,
        qualifying.driver_id,
        qualifying.constructor_id,
        qualifying.car_number,
        qualifying.qualifying_position,
        qualifying.q1_ms,
        qualifying.q2_ms,
        qualifying.q3_ms,
        qualifying._source,

    from qualifying
    left join races
        on qualifying.race_id = races.race_id

)

select * from joined
