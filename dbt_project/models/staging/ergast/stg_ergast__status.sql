{#- Every status text maps to exactly one category; the decisions are documented in stg_ergast__status.yml.
    Matching is on the lower-cased text so a casing change at the source (Jolpica writes "Power Unit") does
    not drop a status. An unlisted text gets a null category and fails the not_null test on purpose: a new
    status must be categorised here before it reaches the marts. -#}
with

source as (

    select * from {{ source('ergast', 'ergast__status') }}

),

renamed as (

    select
        status_id,
        {{ null_if_blank('status') }} as status,
        lower({{ null_if_blank('status') }}) as status_key,
        _source,
        _loaded_at,
        _run_id,

    from source

),

categorised as (

    select
        status_id,
        status,
        case
            when status_key = 'finished'
                then 'finished'
            -- running at the flag but laps down; "Not classified" cars were running too (too few laps)
            when regexp_full_match(status_key, '\+\d+ laps?')
                or status_key in ('lapped', 'not classified')
                then 'lapped'
            when status_key in ('disqualified', 'excluded', 'underweight')
                then 'disqualified'
            when status_key in ('did not start', 'withdrew', 'safety concerns', 'safety')
                then 'did_not_start'
            when status_key in ('did not qualify', 'did not prequalify', '107% rule')
                then 'did_not_qualify'
            -- contact, driving incidents and the damage they leave
            when status_key in (
                'accident', 'collision', 'collision damage', 'spun off',
                'puncture', 'tyre puncture', 'damage', 'debris'
            )
                then 'accident'
            -- the driver, not the car: health, injury, unspecified retirements, not taking a restart
            when status_key in (
                'retired', 'not restarted', 'driver unwell', 'illness', 'physical',
                'injured', 'injury', 'eye injury', 'fatal accident'
            )
                then 'retired_other'
            -- a part of the car (or its refuelling rig) failed
            when status_key in (
                'engine', 'engine fire', 'engine misfire', 'power unit', 'ers', 'turbo', 'supercharger',
                'power loss', 'overheating', 'cooling system', 'radiator', 'water pressure', 'water leak',
                'water pump', 'water pipe', 'oil pressure', 'oil leak', 'oil pump', 'oil line', 'oil pipe',
                'fuel', 'fuel pressure', 'fuel pump', 'fuel system', 'fuel leak', 'fuel pipe', 'fuel rig',
                'refuelling', 'out of fuel', 'injection', 'ignition', 'spark plugs', 'distributor', 'magneto',
                'alternator', 'battery', 'electrical', 'electronics', 'launch control', 'stalled', 'throttle',
                'pneumatics', 'gearbox', 'transmission', 'clutch', 'differential', 'driveshaft', 'halfshaft',
                'crankshaft', 'cv joint', 'drivetrain', 'axle', 'hydraulics', 'brakes', 'brake duct',
                'suspension', 'track rod', 'steering', 'handling', 'vibrations', 'chassis', 'undertray',
                'front wing', 'rear wing', 'broken wing', 'wheel', 'wheel rim', 'wheel nut', 'wheel bearing',
                'tyre', 'exhaust', 'heat shield fire', 'fire', 'seat', 'driver seat', 'safety belt',
                'mechanical', 'technical'
            )
                then 'mechanical'
        end as status_category,
        case
            when regexp_full_match(status_key, '\+\d+ laps?')
                then cast(regexp_extract(status_key, '\d+') as integer)
        end as laps_down,
        _source,
        _loaded_at,
        _run_id,

    from renamed

)

select * from categorised
