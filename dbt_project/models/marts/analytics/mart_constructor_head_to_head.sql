with

constructor_races as (
    select * from {{ ref('int_results_aggregated_to_constructor_races') }}
),

constructors as (
    select * from {{ ref('dim_constructors') }}
),

started as (
    -- A team takes part in a duel when at least one of its cars started the race; its best car
    -- is the started car with the lowest position_order (classified cars first, then retirements
    -- by laps completed, as Ergast orders them).
    select
        race_id,
        season,
        constructor_id,
        best_position_order,
        race_points,
    from constructor_races
    where is_started
),

race_pairs as (
    -- Every ordered pair of teams that started the same race, both directions.
    select
        team_a.season,
        team_a.race_id,
        team_a.constructor_id as constructor_a_id,
        team_b.constructor_id as constructor_b_id,
        team_a.best_position_order < team_b.best_position_order as is_a_ahead,
        team_b.best_position_order < team_a.best_position_order as is_b_ahead,
        team_a.race_points as race_points_a,
        team_b.race_points as race_points_b,
    from started as team_a
    inner join started as team_b
        on
            team_a.race_id = team_b.race_id
            and team_a.constructor_id != team_b.constructor_id
),

season_pairs as (
    select
        season,
        constructor_a_id,
        constructor_b_id,
        count(*) as races_both_started,
        count(*) filter (where is_a_ahead) as a_ahead_of_b,
        count(*) filter (where is_b_ahead) as b_ahead_of_a,
        {{ exact_sum('race_points_a') }} as race_points_a,
        {{ exact_sum('race_points_b') }} as race_points_b,
    from race_pairs
    group by season, constructor_a_id, constructor_b_id
),

final as (
    select
        season_pairs.season,
        season_pairs.constructor_a_id,
        season_pairs.constructor_b_id,
        constructor_a.constructor_name as constructor_a_name,
        constructor_b.constructor_name as constructor_b_name,
        season_pairs.races_both_started,
        season_pairs.a_ahead_of_b,
        season_pairs.b_ahead_of_a,
        season_pairs.a_ahead_of_b / season_pairs.races_both_started as a_ahead_share,
        season_pairs.race_points_a,
        season_pairs.race_points_b,
        season_pairs.race_points_a - season_pairs.race_points_b as points_difference,
    from season_pairs
    inner join constructors as constructor_a
        on season_pairs.constructor_a_id = constructor_a.constructor_id
    inner join constructors as constructor_b
        on season_pairs.constructor_b_id = constructor_b.constructor_id
)

select * from final
