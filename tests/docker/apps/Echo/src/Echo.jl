"""The bridge tests' app: predict(command, values...) echoes values, describes them, or misbehaves on purpose."""
module Echo

using Dates

const ARGS_SEEN = String[]

function setup(args)
    append!(ARGS_SEEN, args)
    i = findfirst(isequal("--sleep"), args)
    i === nothing || sleep(parse(Float64, args[i+1]))
    "--fail-setup" in args && error("setup failed on purpose")
end

"""What Julia received: a table's column names and element types, or a value's type."""
describe(table::NamedTuple) = (column = [string(k) for k in keys(table)], eltype = [string(eltype(v)) for v in values(table)])
describe(value) = string(typeof(value))

function predict(command::String, values...)
    command == "echo" && return values[1]
    command == "describe" && return describe(values[1])
    command == "describe-all" && return join(map(describe, values), "; ")
    command == "args" && return join(ARGS_SEEN, " ")
    command == "error" && throw(DomainError(-1.0, "sqrt was given a negative number\nsecond line"))
    command == "exit" && exit(1)
    command == "hang" && (sleep(1e6); return 0)
    command == "print" && (println("to stdout"); println(stderr, "to stderr"); return 1)
    command == "dict" && return Dict("a" => 1)
    command == "ragged" && return (a = [1, 2], b = [1.0])
    command == "any" && return Any[1.0, 2.5]
    command == "bits" && return (flag = values[1] .> 0,)
    command == "scalars" && return (x = 1.5, n = 2, s = "a", d = Date(2024, 1, 2), m = missing)
    error("unknown command $command")
end

end # module
