with

qualifying as (

    select * from {{ ref('int_qualifying_joined_to_races') }}

),

best_times as (

    select
        *,
        -- least() skips nulls: the best of whatever sessions the driver set a time in
        least(q1_ms, q2_ms, q3_ms) as best_time_ms,

    from qualifying

),

pole_times as (

    select
        *,
        -- the pole sitter's best time; with knockout qualifying another driver's Q1/Q2 lap can be faster
        max(best_time_ms) filter (where qualifying_position = 1) over (partition by race_id) as pole_time_ms,
        min(best_time_ms) over (partition by race_id) as fastest_time_ms,

    from best_times

),

final as (

    select
        qualify_id,
        race_id,
        season,
        round,
        driver_id,
        constructor_id,
        car_number,
        qualifying_position,
        q1_ms,
        q2_ms,
        q3_ms,
        best_time_ms,
        best_time_ms - pole_time_ms as gap_to_pole_ms,
        round(100.0 * (best_time_ms - pole_time_ms) / pole_time_ms, 3) as gap_to_pole_pct,
        best_time_ms - fastest_time_ms as gap_to_fastest_ms,
        qualifying_position = 1 as is_pole_position,
        _source,

    from pole_times

)

select * from final
