"""
The example app for inference-server competitions: juliapack's bridge (worker.jl) calls, in the worker,

    Forecast.setup(["--model", "/kaggle/input/models/model.jld2"])   once, before READY
    Forecast.warmup()                                                once, before READY
    Forecast.predict(test, lags)                                     once per batch

`test` is a NamedTuple of columns (row_id, date_id, time_id, symbol_id, x1, x2, venue), `lags` one of
(date_id, symbol_id, responder_lag) on a day's first time step and `nothing` on the others. Columns with
nulls arrive as Vector{Union{Missing,T}}. The score is the linear model of examples/train.jl, plus the
day's lag of the symbol and a bonus for the venue (a String column; missing counts as 0).
"""
module Forecast

using Serialization

const USAGE = "usage: setup([\"--model\", PATH])"
const VENUE_BONUS = Dict("A" => 1.0, "B" => -1.0, "Zürich-Ost" => 0.5)

struct Model
    weights::Vector{Float64}
    bias::Float64
end

const MODEL = Ref{Model}()
const LAGS = Dict{Int,Float64}()  # symbol_id => the current day's responder_lag

function option(args, flag)
    i = findfirst(isequal(flag), args)
    (i === nothing || i == length(args)) && error("missing $flag; $USAGE")
    return args[i+1]
end

"""The model written by examples/train.jl: a Dict of plain numbers (stdlib Serialization)."""
function load_model(path)
    params = deserialize(path)
    return Model(params["weights"], params["bias"])
end

function setup(args)
    path = option(args, "--model")
    MODEL[] = load_model(path)
    println("Forecast: loaded $(length(MODEL[].weights)) weights from $path")
end

value(x) = ismissing(x) ? 0.0 : Float64(x)
venue_bonus(venue) = ismissing(venue) ? 0.0 : get(VENUE_BONUS, venue, 0.0)

function remember_lags!(lags)
    empty!(LAGS)
    for (symbol, lag) in zip(lags.symbol_id, lags.responder_lag)
        LAGS[Int(symbol)] = value(lag)
    end
end

function score(model::Model, x1, x2, symbol, venue)
    linear = model.weights[1] * value(x1) + model.weights[2] * value(x2) + model.bias
    return linear + get(LAGS, Int(symbol), 0.0) + venue_bonus(venue)
end

function predict(test, lags)
    lags === nothing || remember_lags!(lags)
    model = MODEL[]
    scores = [score(model, test.x1[i], test.x2[i], test.symbol_id[i], test.venue[i]) for i in eachindex(test.row_id)]
    return (row_id = test.row_id, prediction = scores)
end

"""A batch shaped like the gateway's, with or without nulls in x1 and venue."""
function synthetic_batch(nulls::Bool)
    x1 = nulls ? Union{Missing,Float32}[1.0f0, missing] : Float32[1.0f0, 2.0f0]
    venue = nulls ? Union{Missing,String}["A", missing] : ["A", "B"]
    return (row_id = Int64[0, 1], date_id = Int16[0, 0], time_id = Int16[0, 0], symbol_id = Int8[0, 1],
            x1 = x1, x2 = Float32[0.5f0, 0.25f0], venue = venue)
end

"""Compile predict for every argument shape the gateway sends (lags or nothing; nulls or not), so the
first batches with a deadline do not pay for compilation."""
function warmup()
    lags = (date_id = Int16[0], symbol_id = Int8[0], responder_lag = Float32[0.5f0])
    for nulls in (false, true), day_lags in (lags, nothing)
        predict(synthetic_batch(nulls), day_lags)
    end
    empty!(LAGS)
end

end # module
