with

results as (
    select * from {{ ref('int_results_rescored_with_modern_points') }}
),

circuits as (
    select * from {{ ref('dim_circuits') }}
),

drivers as (
    select * from {{ ref('dim_drivers') }}
),

constructors as (
    select * from {{ ref('dim_constructors') }}
),

circuit_races as (
    -- A race is held once it has results; scheduled races without results do not count.
    select
        circuit_id,
        count(distinct race_id) as races_held,
        count(distinct season) as seasons_held,
        min(season) as first_season,
        max(season) as last_season,
        max(race_date) as last_race_date,
    from results
    group by circuit_id
),

driver_records as (
    select
        circuit_id,
        driver_id,
        count(distinct race_id) filter (where is_win) as wins,
        count(distinct race_id) filter (where is_podium) as podiums,
        -- The day the driver reached his win total here: the date of his last win.
        max(race_date) filter (where is_win) as win_total_reached_date,
    from results
    group by circuit_id, driver_id
    having count(*) filter (where is_win) > 0
),

constructor_records as (
    select
        circuit_id,
        constructor_id,
        count(distinct race_id) filter (where is_win) as wins,
        count(distinct race_id) filter (where is_podium) as podiums,
        max(race_date) filter (where is_win) as win_total_reached_date,
    from results
    group by circuit_id, constructor_id
    having count(*) filter (where is_win) > 0
),

ranked_drivers as (
    -- Most wins; a tie goes to more podiums at the circuit, then to whoever reached the win
    -- total first, then to the lower driver_id (only so that the pick is deterministic).
    select
        driver_records.*,
        drivers.full_name,
        row_number() over (
            partition by driver_records.circuit_id
            order by
                driver_records.wins desc,
                driver_records.podiums desc,
                driver_records.win_total_reached_date asc,
                driver_records.driver_id asc
        ) as record_rank,
        max(driver_records.wins) over (partition by driver_records.circuit_id) as most_wins,
    from driver_records
    inner join drivers on driver_records.driver_id = drivers.driver_id
),

ranked_constructors as (
    select
        constructor_records.*,
        constructors.constructor_name,
        row_number() over (
            partition by constructor_records.circuit_id
            order by
                constructor_records.wins desc,
                constructor_records.podiums desc,
                constructor_records.win_total_reached_date asc,
                constructor_records.constructor_id asc
        ) as record_rank,
        max(constructor_records.wins) over (
            partition by constructor_records.circuit_id
        ) as most_wins,
    from constructor_records
    inner join constructors on constructor_records.constructor_id = constructors.constructor_id
),

top_drivers as (
    select
        circuit_id,
        any_value(driver_id) filter (where record_rank = 1) as top_driver_id,
        any_value(full_name) filter (where record_rank = 1) as top_driver_name,
        max(wins) as top_driver_wins,
        any_value(podiums) filter (where record_rank = 1) as top_driver_podiums,
        count(*) filter (where wins = most_wins) as drivers_on_most_wins,
        string_agg(full_name, ', ' order by record_rank) filter (
            where wins = most_wins
        ) as drivers_with_most_wins,
    from ranked_drivers
    group by circuit_id
),

top_constructors as (
    select
        circuit_id,
        any_value(constructor_id) filter (where record_rank = 1) as top_constructor_id,
        any_value(constructor_name) filter (where record_rank = 1) as top_constructor_name,
        max(wins) as top_constructor_wins,
        any_value(podiums) filter (where record_rank = 1) as top_constructor_podiums,
        count(*) filter (where wins = most_wins) as constructors_on_most_wins,
        string_agg(constructor_name, ', ' order by record_rank) filter (
            where wins = most_wins
        ) as constructors_with_most_wins,
    from ranked_constructors
    group by circuit_id
),

final as (
    select
        circuits.circuit_id,
        circuits.circuit_ref,
        circuits.circuit_name,
        circuits.location,
        circuits.country,
        coalesce(circuit_races.races_held, 0) as races_held,
        coalesce(circuit_races.seasons_held, 0) as seasons_held,
        circuit_races.first_season,
        circuit_races.last_season,
        circuit_races.last_race_date,
        top_drivers.top_driver_id,
        top_drivers.top_driver_name,
        top_drivers.top_driver_wins,
        top_drivers.top_driver_podiums,
        coalesce(top_drivers.drivers_on_most_wins > 1, false) as is_top_driver_tied,
        top_drivers.drivers_with_most_wins,
        top_constructors.top_constructor_id,
        top_constructors.top_constructor_name,
        top_constructors.top_constructor_wins,
        top_constructors.top_constructor_podiums,
        coalesce(top_constructors.constructors_on_most_wins > 1, false) as is_top_constructor_tied,
        top_constructors.constructors_with_most_wins,
    from circuits
    left join circuit_races on circuits.circuit_id = circuit_races.circuit_id
    left join top_drivers on circuits.circuit_id = top_drivers.circuit_id
    left join top_constructors on circuits.circuit_id = top_constructors.circuit_id
)

select * from final
