with

constructors as (

    select * from {{ ref('stg_ergast__constructors') }}

),

constructor_seasons as (

    select * from {{ ref('int_results_aggregated_to_constructors') }}

),

final as (

    select
        constructors.constructor_id,
        constructors.constructor_ref,
        constructors.constructor_name,
        constructors.nationality,
        constructors.url,
        constructor_seasons.first_season,
        constructor_seasons.last_season,
        coalesce(constructor_seasons.race_entries, 0) as race_entries,
        constructors._source,

    from constructors
    left join constructor_seasons
        on constructors.constructor_id = constructor_seasons.constructor_id

)

select * from final
