"""bench/bridge.py's app: a predict that answers one zero per row and times itself, so the bench can
subtract the user's predict time from the bridge's."""
module BridgeBench

const PREDICT_NS = Ref{UInt64}(0)

function setup(args)
    i = findfirst(isequal("--sleep"), args)
    i === nothing || sleep(parse(Float64, args[i+1]))
end

function predict(test, lags)
    started = time_ns()
    answer = (row_id = test.row_id, prediction = zeros(length(test.row_id)))
    PREDICT_NS[] += time_ns() - started
    return answer
end

"""predict("predict-ns"): the total time spent in predict(test, lags) so far, in nanoseconds."""
predict(command::String) = command == "predict-ns" ? Int64(PREDICT_NS[]) : error("unknown command $command")

function warmup()
    predict((row_id = Int64[1], x = Float32[1]), nothing)
    PREDICT_NS[] = 0
end

end # module
