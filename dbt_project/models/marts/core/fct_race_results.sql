with

results as (

    select * from {{ ref('int_results_joined_to_races') }}

),

flagged as (

    select
        *,
        {{ race_entry_flags() }},

    from results

),

final as (

    select
        result_id,
        race_id,
        season,
        round,
        race_date,
        circuit_id,
        driver_id,
        constructor_id,
        car_number,
        grid,
        finish_position,
        position_text,
        position_order,
        points,
        laps,
        race_time,
        race_time_ms,
        fastest_lap,
        fastest_lap_rank,
        fastest_lap_time_ms,
        fastest_lap_speed_kph,
        status_id,
        status,
        status_category,
        laps_down,
        is_started,
        is_classified,
        is_finished,
        {{ race_entry_outcome_flags() }},
        is_disqualified,
        is_podium,
        is_win,
        is_pole,
        is_shared_drive,
        _source,

    from flagged

)

select * from final
