{#- A lap slower than this multiple of the driver's median race lap is a safety-car, VSC, red-flag,
    damage or traffic lap, not representative pace (the 107% rule of thumb). -#}
{%- set slow_lap_ratio = var('clean_lap_max_ratio_to_driver_median', 1.07) -%}

with

lap_times as (
    select * from {{ ref('fct_lap_times') }}
    -- Lap timing starts in 1996.
    where season >= 1996
),

structurally_flagged as (
    select
        race_id,
        driver_id,
        lap,
        season,
        round,
        constructor_id,
        position,
        lap_time_ms,
        case
            when is_first_lap then 'first_lap'
            when is_pit_in_lap then 'pit_in_lap'
            when is_pit_out_lap then 'pit_out_lap'
        end as structural_exclusion,
    from lap_times
),

driver_medians as (
    select
        race_id,
        driver_id,
        median(lap_time_ms) as median_green_lap_ms,
    from structurally_flagged
    where structural_exclusion is null
    group by race_id, driver_id
),

flagged as (
    select
        structurally_flagged.race_id,
        structurally_flagged.driver_id,
        structurally_flagged.lap,
        structurally_flagged.season,
        structurally_flagged.round,
        structurally_flagged.constructor_id,
        structurally_flagged.position,
        structurally_flagged.lap_time_ms,
        driver_medians.median_green_lap_ms,
        coalesce(
            structurally_flagged.structural_exclusion,
            case
                when
                    structurally_flagged.lap_time_ms
                    > {{ slow_lap_ratio }} * driver_medians.median_green_lap_ms
                    then 'slow_lap'
            end
        ) as exclusion_reason,
        exclusion_reason is null as is_clean_lap,
    from structurally_flagged
    left join driver_medians
        on
            structurally_flagged.race_id = driver_medians.race_id
            and structurally_flagged.driver_id = driver_medians.driver_id
)

select * from flagged
