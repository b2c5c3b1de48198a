{#- A driver needs this many clean laps for his median to be ranked and to set the race's
    reference pace. -#}
{%- set min_clean_laps = var('lap_pace_min_clean_laps', 5) -%}

with

laps as (
    select * from {{ ref('int_lap_times_flagged_as_clean') }}
),

driver_races as (
    select
        race_id,
        driver_id,
        any_value(season) as season,
        any_value(round) as round,
        any_value(constructor_id) as constructor_id,
        count(*) as laps_timed,
        count(*) filter (where is_clean_lap) as clean_laps,
        median(lap_time_ms) filter (where is_clean_lap) as median_clean_lap_ms,
        min(lap_time_ms) filter (where is_clean_lap) as best_clean_lap_ms,
    from laps
    group by race_id, driver_id
),

ranked as (
    select
        *,
        clean_laps >= {{ min_clean_laps }} as is_ranked,
        min(case when clean_laps >= {{ min_clean_laps }} then median_clean_lap_ms end) over (
            partition by race_id
        ) as fastest_median_clean_lap_ms,
    from driver_races
),

final as (
    select
        race_id,
        driver_id,
        season,
        round,
        constructor_id,
        laps_timed,
        clean_laps,
        median_clean_lap_ms,
        best_clean_lap_ms,
        is_ranked,
        fastest_median_clean_lap_ms,
        median_clean_lap_ms - fastest_median_clean_lap_ms as gap_to_fastest_ms,
        100 * (median_clean_lap_ms - fastest_median_clean_lap_ms)
        / fastest_median_clean_lap_ms as gap_to_fastest_pct,
        case
            when is_ranked
                then rank() over (
                    partition by race_id, is_ranked order by median_clean_lap_ms
                )
        end as pace_rank,
    from ranked
)

select * from final
