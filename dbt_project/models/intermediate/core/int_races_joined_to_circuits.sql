with

races as (

    select * from {{ ref('stg_ergast__races') }}

),

circuits as (

    select * from {{ ref('stg_ergast__circuits') }}

),

sprint_results as (

    select * from {{ ref('stg_ergast__sprint_results') }}

),

sprint_races as (

    select distinct race_id from sprint_results

),

joined as (

    select
        races.race_id,
        races.season,
        races.round,
        races.race_name,
        races.race_date,
        races.race_start_time_utc,
        races.race_start_at,
        races.circuit_id,
        circuits.circuit_name,
        circuits.location,
        circuits.country,
        sprint_races.race_id is not null as is_sprint_weekend,
        -- the season's calendar as loaded: for a season in progress this counts scheduled rounds too
        count(*) over (partition by races.season) as rounds_in_season,
        races.round = max(races.round) over (partition by races.season) as is_final_round,
        races.url,
        races.fp1_date,
        races.fp1_time_utc,
        races.fp2_date,
        races.fp2_time_utc,
        races.fp3_date,
        races.fp3_time_utc,
        races.qualifying_date,
        races.qualifying_time_utc,
        races.sprint_date,
        races.sprint_time_utc,
        races._source,

    from races
    left join circuits
        on races.circuit_id = circuits.circuit_id
    left join sprint_races
        on races.race_id = sprint_races.race_id

)

select * from joined
