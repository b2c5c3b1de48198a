-- Every (season, A, B) row has its mirror (season, B, A) with the same races, A-ahead-of-B
-- equal to the mirror's B-ahead-of-A (and the reverse), and the opposite points difference.
with

head_to_head as (
    select * from {{ ref('mart_constructor_head_to_head') }}
),

unmirrored_pairs as (
    select
        pair.season,
        pair.constructor_a_id,
        pair.constructor_b_id,
        pair.races_both_started,
        mirror.races_both_started as mirror_races_both_started,
    from head_to_head as pair
    left join head_to_head as mirror
        on
            pair.season = mirror.season
            and pair.constructor_a_id = mirror.constructor_b_id
            and pair.constructor_b_id = mirror.constructor_a_id
    where
        mirror.season is null
        or pair.races_both_started != mirror.races_both_started
        or pair.a_ahead_of_b != mirror.b_ahead_of_a
        or pair.b_ahead_of_a != mirror.a_ahead_of_b
        or abs(pair.points_difference + mirror.points_difference) > 0.005
)

select * from unmirrored_pairs
