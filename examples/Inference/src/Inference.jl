"""
The example inference pipeline juliapack packs:

    julia --project=examples/Inference examples/Inference/src/Inference.jl \\
        --model model.jls --input examples/data --output out

Reads INPUT/test.csv (`id,x1,x2,...`), scores each row with TinyModel (which reads its eager artifact),
names the class with TinyModel's lazy artifact and writes OUTPUT/submission.csv (`id,score,label`).
"""
module Inference

using DelimitedFiles
using Serialization
using Statistics
using TinyModel

const USAGE = "usage: Inference.jl --model PATH --input DIR --output DIR"

function parse_args(args)
    isodd(length(args)) && error(USAGE)
    options = Dict{String,String}()
    for (flag, value) in Iterators.partition(args, 2)
        flag in ("--model", "--input", "--output") || error("unknown option $flag; $USAGE")
        options[flag[3:end]] = value
    end
    for required in ("model", "input", "output")
        haskey(options, required) || error("missing --$required; $USAGE")
    end
    return options
end

"""The model written by examples/train.jl: a Dict of plain numbers, so reading it needs no package types."""
function load_model(path)
    params = deserialize(path)
    return LinearModel(params["weights"], params["bias"])
end

"""Row ids and the feature matrix of a `id,x1,x2,...` CSV file."""
function read_features(path)
    table, _header = readdlm(path, ',', Float64; header=true)
    return Int.(table[:, 1]), table[:, 2:end]
end

function write_submission(path, ids, scores, labels)
    open(path, "w") do io
        println(io, "id,score,label")
        for (id, score) in zip(ids, scores)
            println(io, id, ',', round(score; digits=4), ',', labels[score >= 0 ? 2 : 1])
        end
    end
end

function main(args)
    options = parse_args(args)
    model = load_model(options["model"])
    println("Inference: loaded model from $(options["model"]) ($(length(model.weights)) weights)")
    ids, features = read_features(joinpath(options["input"], "test.csv"))
    println("Inference: read $(length(ids)) rows from $(options["input"])")
    scores = predict(model, features)
    println("Inference: scored, mean score $(round(mean(scores); digits=4))")
    labels = class_labels()
    println("Inference: class labels $(join(labels, ", "))")
    mkpath(options["output"])
    submission = joinpath(options["output"], "submission.csv")
    write_submission(submission, ids, scores, labels)
    println("Inference: wrote $submission")
    return submission
end

end # module

if abspath(PROGRAM_FILE) == @__FILE__
    Inference.main(ARGS)
end
