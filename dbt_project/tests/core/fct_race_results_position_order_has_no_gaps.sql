-- Within each race the distinct position_order values run 1..n without gaps. Shared cars repeat a
-- value (so row count can exceed n), but a gap means a result row was lost on the way in.
with

results as (

    select * from {{ ref('fct_race_results') }}

),

per_race as (

    select
        race_id,
        min(position_order) as min_order,
        max(position_order) as max_order,
        count(distinct position_order) as distinct_orders,

    from results
    group by race_id

),

gaps as (

    select * from per_race
    where min_order <> 1 or distinct_orders <> max_order

)

select * from gaps
