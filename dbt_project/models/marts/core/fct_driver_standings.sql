with

standings as (

    select * from {{ ref('int_driver_standings_joined_to_races') }}

),

final as (

    select
        driver_standings_id,
        race_id,
        season,
        round,
        race_date,
        driver_id,
        points,
        position,
        position_text,
        wins,
        is_final_round,
        -- the most recent standings of the season as loaded (the final ones once the season is over)
        round = max(round) over (partition by season) as is_latest_round,
        _source,

    from standings

)

select * from final
