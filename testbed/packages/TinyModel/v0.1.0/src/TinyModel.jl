"""A linear model small enough for juliapack's test bed."""
module TinyModel

export LinearModel, predict

"""Weights and bias of the score `X * weights .+ bias`."""
struct LinearModel
    weights::Vector{Float64}
    bias::Float64
end

"""One score per row of `X`."""
predict(model::LinearModel, X::AbstractMatrix{<:Real}) = X * model.weights .+ model.bias

end
