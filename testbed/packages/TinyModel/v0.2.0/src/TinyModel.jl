"""A linear model small enough for juliapack's test bed, with one eager and one lazy artifact."""
module TinyModel

using Pkg.Artifacts

export LinearModel, predict, class_labels

"""Weights and bias of the score `scale * (X * weights .+ bias)`."""
struct LinearModel
    weights::Vector{Float64}
    bias::Float64
end

"""The factor every score is multiplied by, from the artifact `tinyscale` (installed with the package)."""
score_scale() = parse(Float64, readchomp(joinpath(artifact"tinyscale", "scale.txt")))

"""One score per row of `X`."""
predict(model::LinearModel, X::AbstractMatrix{<:Real}) = score_scale() .* (X * model.weights .+ model.bias)

"""The two class names, negative score first, from the lazy artifact `tinylabels` (fetched on first use)."""
class_labels() = readlines(joinpath(artifact"tinylabels", "labels.txt"))

end
