with

seasons as (

    select * from {{ ref('stg_ergast__seasons') }}

),

races as (

    select * from {{ ref('dim_races') }}

),

season_races as (

    select
        season,
        count(*) as rounds,
    from races
    group by season

),

final as (

    select
        seasons.season,
        seasons.url,
        coalesce(season_races.rounds, 0) as rounds,
        seasons._source,

    from seasons
    left join season_races using (season)

)

select * from final
