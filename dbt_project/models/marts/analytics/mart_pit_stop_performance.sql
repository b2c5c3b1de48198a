with

pit_stops as (
    select * from {{ ref('fct_pit_stops') }}
    -- Pit stop timing starts in 2011.
    where season >= 2011
),

constructors as (
    select * from {{ ref('dim_constructors') }}
),

constructor_seasons as (
    -- Durations are pit-lane times (entry to exit), not stationary times. Stops that span a red
    -- flag (cars wait in the pit lane for minutes) are counted apart and left out of the timing.
    select
        season,
        constructor_id,
        count(*) filter (where not is_red_flag_stop) as stops,
        count(*) filter (where is_red_flag_stop) as red_flag_stops_excluded,
        count(distinct race_id) filter (where not is_red_flag_stop) as races_with_stops,
        median(duration_ms) filter (where not is_red_flag_stop) as median_duration_ms,
        min(duration_ms) filter (where not is_red_flag_stop) as best_duration_ms,
        avg(duration_ms) filter (where not is_red_flag_stop) as avg_duration_ms,
        quantile_cont(duration_ms, 0.9) filter (
            where not is_red_flag_stop
        ) as p90_duration_ms,
    from pit_stops
    group by season, constructor_id
),

final as (
    select
        constructor_seasons.season,
        constructor_seasons.constructor_id,
        constructors.constructor_name,
        constructor_seasons.stops,
        constructor_seasons.red_flag_stops_excluded,
        constructor_seasons.races_with_stops,
        constructor_seasons.stops
        / nullif(constructor_seasons.races_with_stops, 0) as stops_per_race,
        constructor_seasons.median_duration_ms,
        constructor_seasons.best_duration_ms,
        constructor_seasons.avg_duration_ms,
        constructor_seasons.p90_duration_ms,
        rank() over (
            partition by constructor_seasons.season
            order by constructor_seasons.median_duration_ms
        ) as median_duration_rank,
    from constructor_seasons
    inner join constructors on constructor_seasons.constructor_id = constructors.constructor_id
)

select * from final
