# Write the example's model: `julia examples/train.jl OUTPUT_FILE` (stdlib only, deterministic).
#
# "Training" is a least-squares fit on a fixed grid whose targets follow 1.5 x1 - 0.75 x2 + 0.25 exactly;
# rounding the fit removes the last bits of floating-point noise, so every run writes the same bytes.
# The file holds a Dict of plain arrays and numbers in stdlib Serialization format (hence .jls, the
# extension Serialization files go by), so reading it needs no package types.
using LinearAlgebra
using Serialization

const TRUE_WEIGHTS = [1.5, -0.75]
const TRUE_BIAS = 0.25

function training_data()
    grid = [(x1, x2) for x1 in -2.0:1.0:2.0 for x2 in -2.0:1.0:2.0]
    X = [first.(grid) last.(grid)]
    y = X * TRUE_WEIGHTS .+ TRUE_BIAS
    return X, y
end

function fit(X, y)
    coefficients = [X ones(size(X, 1))] \ y
    rounded = round.(coefficients; digits=8)
    return Dict("weights" => rounded[1:end-1], "bias" => rounded[end], "features" => ["x1", "x2"])
end

function main(args)
    length(args) == 1 || error("usage: julia train.jl OUTPUT_FILE")
    model = fit(training_data()...)
    mkpath(dirname(abspath(args[1])))
    serialize(args[1], model)
    println("train: wrote $(args[1]) (weights $(model["weights"]), bias $(model["bias"]))")
end

main(ARGS)
