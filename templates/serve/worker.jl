# The Julia side of juliapack's bridge: a persistent worker that serves a competition's `predict` calls.
#
#     julia --startup-file=no --project=APP worker.jl --module NAME --request-fd N --reply-fd M [ARGS...]
#
# Loads module NAME (the app), calls NAME.setup(ARGS) and NAME.warmup() when they are defined, sends
# READY, then answers one REQUEST frame after another with NAME.predict(args...) until the request pipe
# closes (EOF: exit 0). Frames travel on the two pipe descriptors only; stdout and stderr stay the app's.
# Stdlib only (Base, Dates), and no syntax or API newer than Julia 1.5. The wire format is described in
# juliapack_wire.py, which is the other end of it.
module JuliapackWorker

using Dates

const PROTOCOL = UInt32(1)
const MAGIC = UInt8['J', 'P', 'B', '1']
const FRAME_REQUEST, FRAME_READY, FRAME_RESULT, FRAME_ERROR = 0x01, 0x02, 0x03, 0x04
const TAG_NOTHING, TAG_SCALAR, TAG_COLUMN, TAG_TABLE, TAG_LIST, TAG_MATRIX = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05
const T_NULL, T_STRING, T_DATE, T_DATETIME = 0x00, 0x0c, 0x0d, 0x0e
# Type codes 1..11, in order; 12.. are String, Date, DateTime, carried as offsets+bytes, Int32, Int64.
const FIXED_TYPES = (Float64, Float32, Int64, Int32, Int16, Int8, UInt64, UInt32, UInt16, UInt8, Bool)
const UNIX_DAY = Dates.value(Date(1970, 1, 1))
const UNIX_MS = Dates.value(DateTime(1970, 1, 1))
const MAX_MESSAGE = 2000

struct WireError <: Exception
    msg::String
end
Base.showerror(io::IO, e::WireError) = print(io, e.msg)

# --- reading a request ------------------------------------------------------------------------------

read_u8(io) = read(io, UInt8)
read_le(io, ::Type{T}) where {T} = ltoh(read(io, T))

function read_fixed(io, ::Type{T}, n) where {T}
    values = Vector{T}(undef, n)
    read!(io, values)
    return values
end

function read_strings(io, n)
    offsets = read_fixed(io, Int64, n + 1)
    offsets[1] == 0 && issorted(offsets) || throw(WireError("string offsets do not start at 0 and rise"))
    data = read_fixed(io, UInt8, offsets[end])
    strings = Vector{String}(undef, n)
    GC.@preserve data for i in 1:n
        strings[i] = unsafe_string(pointer(data, offsets[i] + 1), offsets[i+1] - offsets[i])
    end
    return strings
end

function read_values(io, code, n)
    if 1 <= code <= length(FIXED_TYPES)
        return read_fixed(io, FIXED_TYPES[code], n)
    elseif code == T_STRING
        return read_strings(io, n)
    elseif code == T_DATE
        return [Date(Dates.UTD(Int64(d) + UNIX_DAY)) for d in read_fixed(io, Int32, n)]
    elseif code == T_DATETIME
        return [DateTime(Dates.UTM(ms + UNIX_MS)) for ms in read_fixed(io, Int64, n)]
    end
    throw(WireError("unknown column type code $code"))
end

"""Values with validity bytes (0 = null) become a Vector{Union{Missing,T}}."""
function with_missing(values::Vector{T}, valid::Vector{UInt8}) where {T}
    column = Vector{Union{Missing,T}}(values)
    for i in eachindex(valid)
        valid[i] == 0x00 && (column[i] = missing)
    end
    return column
end

function read_column(io)
    name = String(read(io, Int(read_le(io, UInt16))))
    code, flags, n = read_u8(io), read_u8(io), Int(read_le(io, UInt64))
    code == T_NULL && return name, fill(missing, n)
    valid = flags & 0x01 == 0x01 ? read_fixed(io, UInt8, n) : nothing
    values = read_values(io, code, n)
    return name, valid === nothing ? values : with_missing(values, valid)
end

function read_table(io)
    ncols, nrows = Int(read_le(io, UInt32)), Int(read_le(io, UInt64))
    names = Vector{Symbol}(undef, ncols)
    columns = Vector{Any}(undef, ncols)
    for i in 1:ncols
        name, column = read_column(io)
        length(column) == nrows || throw(WireError("column $name has $(length(column)) rows, the table $nrows"))
        names[i], columns[i] = Symbol(name), column
    end
    return NamedTuple{Tuple(names)}(Tuple(columns))
end

function read_scalar(io)
    code = read_u8(io)
    code == T_NULL && return missing
    return read_values(io, code, 1)[1]
end

function read_matrix(io)
    code, nrows, ncols = read_u8(io), Int(read_le(io, UInt64)), Int(read_le(io, UInt64))
    1 <= code <= length(FIXED_TYPES) || throw(WireError("matrix of type code $code"))
    return reshape(read_fixed(io, FIXED_TYPES[code], nrows * ncols), nrows, ncols)
end

function read_value(io)
    tag = read_u8(io)
    tag == TAG_NOTHING && return nothing
    tag == TAG_SCALAR && return read_scalar(io)
    tag == TAG_COLUMN && return read_column(io)[2]
    tag == TAG_TABLE && return read_table(io)
    tag == TAG_MATRIX && return read_matrix(io)
    tag == TAG_LIST && return read_list(io, Int(read_le(io, UInt32)))
    throw(WireError("unknown value tag $tag"))
end

"""A list of values of one type becomes a Vector of that type (a list of floats: Vector{Float64})."""
function read_list(io, n)
    items = Vector{Any}(undef, n)
    for i in 1:n
        items[i] = read_value(io)
    end
    return n == 0 ? items : identity.(items)
end

# --- writing an answer ------------------------------------------------------------------------------

type_code(::Type) = nothing
for (i, T) in enumerate(FIXED_TYPES)
    @eval type_code(::Type{$T}) = $(UInt8(i))
end
type_code(::Type{String}) = T_STRING
type_code(::Type{SubString{String}}) = T_STRING
type_code(::Type{Symbol}) = T_STRING
type_code(::Type{Date}) = T_DATE
type_code(::Type{DateTime}) = T_DATETIME
type_code(::Type{Missing}) = T_NULL

write_le(io, x) = write(io, htol(x))

function write_values(io, code, values::AbstractVector)
    if code == T_STRING
        offsets = Vector{Int64}(undef, length(values) + 1)
        offsets[1] = 0
        for (i, s) in enumerate(values)
            offsets[i+1] = offsets[i] + ncodeunits(string(s))
        end
        write(io, offsets)
        foreach(s -> write(io, string(s)), values)
    elseif code == T_DATE
        write(io, Int32[Dates.value(d) - UNIX_DAY for d in values])
    elseif code == T_DATETIME
        write(io, Int64[Dates.value(t) - UNIX_MS for t in values])
    else
        write(io, convert(Vector{FIXED_TYPES[code]}, values))
    end
end

zero_of(::Type{T}) where {T<:AbstractString} = ""
zero_of(::Type{Symbol}) = ""
zero_of(::Type{Date}) = Date(1970, 1, 1)
zero_of(::Type{DateTime}) = DateTime(1970, 1, 1)
zero_of(::Type{T}) where {T} = zero(T)

function column_code(name, column::AbstractVector)
    E = eltype(column)
    E === Missing && return T_NULL, Missing
    T = Base.nonmissingtype(E)
    code = T === Union{} ? nothing : type_code(T)
    code === nothing && error("predict returned column `$name` of element type $(eltype(column)): " *
                              "return Float64/32, (U)Int64/32/16/8, Bool, String, Date or DateTime values (or missing)")
    return code, T
end

function write_column(io, name::AbstractString, column::AbstractVector)
    # A Vector{Any} or Vector{Real} of one concrete type is sent as that type.
    narrowable = type_code(Base.nonmissingtype(eltype(column))) === nothing && !isempty(column)
    column = narrowable ? identity.(column) : column
    code, T = column_code(name, column)
    bytes = Vector{UInt8}(codeunits(String(name)))
    write_le(io, UInt16(length(bytes)))
    write(io, bytes)
    nulls = T !== eltype(column)
    write(io, code, nulls ? 0x01 : 0x00)
    write_le(io, UInt64(length(column)))
    code == T_NULL && return
    nulls && write(io, UInt8[ismissing(x) ? 0x00 : 0x01 for x in column])
    write_values(io, code, nulls ? [coalesce(x, zero_of(T)) for x in column] : column)
end

"""The columns of an answer that is a table: a NamedTuple of vectors (or of scalars: one row), or any
object whose properties are vectors of one length (a DataFrame); `nothing` when it is not one."""
function table_columns(answer)
    answer isa NamedTuple && all(x -> is_scalar(x), values(answer)) && return [(string(k), [v]) for (k, v) in pairs(answer)]
    answer isa AbstractVector && return nothing
    names = try
        propertynames(answer)
    catch
        return nothing
    end
    isempty(names) && return nothing
    columns = [(string(k), getproperty(answer, k)) for k in names]
    all(c -> c[2] isa AbstractVector, columns) || return nothing
    lengths = unique(length(c[2]) for c in columns)
    length(lengths) == 1 || error("predict returned a table whose columns have different lengths $(lengths)")
    return columns
end

is_scalar(x) = x === missing || type_code(typeof(x)) !== nothing

function write_answer(io, answer)
    if answer === nothing
        write(io, TAG_NOTHING)
    elseif is_scalar(answer)
        write(io, TAG_SCALAR)
        code = type_code(typeof(answer))
        write(io, code)
        code == T_NULL || write_values(io, code, [answer])
    elseif answer isa AbstractVector
        write(io, TAG_COLUMN)
        write_column(io, "", answer)
    else
        write_table(io, answer)
    end
end

function write_table(io, answer)
    columns = table_columns(answer)
    columns === nothing && error("predict returned a $(typeof(answer)): return a table (a NamedTuple of vectors, " *
                                 "or an object whose properties are vectors), a vector, a scalar or nothing")
    write(io, TAG_TABLE)
    write_le(io, UInt32(length(columns)))
    write_le(io, UInt64(isempty(columns) ? 0 : length(columns[1][2])))
    for (name, column) in columns
        write_column(io, name, column)
    end
end

# --- frames -----------------------------------------------------------------------------------------

mutable struct Pipes
    input::IOStream
    output::IOStream
    body::Vector{UInt8}
    reply::IOBuffer
end

function send_frame(pipes::Pipes, kind::UInt8)
    n = position(pipes.reply)
    write(pipes.output, MAGIC, kind, 0x00, 0x00, 0x00, htol(UInt64(n)))
    GC.@preserve pipes unsafe_write(pipes.output, pointer(pipes.reply.data), n)
    flush(pipes.output)
    seekstart(pipes.reply)
    truncate(pipes.reply, 0)
end

"""The next request's body, or `nothing` at EOF (Python closed the pipe: time to exit)."""
function next_request(pipes::Pipes)
    eof(pipes.input) && return nothing
    header = read(pipes.input, 16)
    length(header) == 16 || throw(WireError("short frame header ($(length(header)) bytes)"))
    header[1:4] == MAGIC && header[5] == FRAME_REQUEST || throw(WireError("garbled frame header $(header)"))
    n = Int(ltoh(reinterpret(UInt64, header[9:16])[1]))
    resize!(pipes.body, n)
    read!(pipes.input, pipes.body)
    return IOBuffer(pipes.body)
end

"""One line: `<type>: <message> (in <stage>)`, at most MAX_MESSAGE characters."""
function one_line(e, stage)
    message = replace(sprint(showerror, e), r"\s*\n\s*" => " ")
    kind = string(nameof(typeof(e)))
    text = startswith(message, kind * ":") ? message : string(kind, ": ", message)
    length(text) > MAX_MESSAGE && (text = first(text, MAX_MESSAGE) * " …")
    return string(text, " (in ", stage, ")")
end

function send_error(pipes::Pipes, batch, e, backtrace, stage)
    println(stderr, "juliapack worker: error in $stage:")
    showerror(stderr, e, backtrace)
    println(stderr)
    flush(stderr)
    write_le(pipes.reply, UInt64(batch))
    write(pipes.reply, one_line(e, stage))
    send_frame(pipes, FRAME_ERROR)
end

# --- the loop ---------------------------------------------------------------------------------------

function answer_request(pipes::Pipes, app::Module, body::IOBuffer)
    batch = read_le(body, UInt64)
    args = Any[read_value(body) for _ in 1:Int(read_le(body, UInt32))]
    bytesavailable(body) == 0 || throw(WireError("request frame has $(bytesavailable(body)) bytes left over"))
    stage = "predict, batch $batch"
    answer = try
        Base.invokelatest(getfield(app, :predict), args...)
    catch e
        return send_error(pipes, batch, e, catch_backtrace(), stage)
    end
    flush(stdout)
    flush(stderr)
    try
        write_le(pipes.reply, UInt64(batch))
        write_answer(pipes.reply, answer)
    catch e
        seekstart(pipes.reply); truncate(pipes.reply, 0)
        return send_error(pipes, batch, e, catch_backtrace(), "answer of " * stage)
    end
    send_frame(pipes, FRAME_RESULT)
end

function serve(pipes::Pipes, app::Module)
    while true
        body = next_request(pipes)
        body === nothing && return
        answer_request(pipes, app, body)
    end
end

"""Import the app module. Each statement of a :toplevel expression runs in the newest world, so the
module's bindings are visible to what comes after (Julia 1.12 gives bindings world ages too)."""
import_app(name::String) = Core.eval(Main, Expr(:toplevel, Expr(:import, Expr(:., Symbol(name))), Symbol(name)))

"""setup(args) and warmup(), when the app defines them; run through invokelatest, in the world after the import."""
function start_app(app::Module, args::Vector{String})
    isdefined(app, :predict) || error("module $(nameof(app)) defines no `predict` function: define predict(args...) in it")
    isdefined(app, :setup) && Base.invokelatest(getfield(app, :setup), args)
    isdefined(app, :warmup) && Base.invokelatest(getfield(app, :warmup))
    return app
end

"""The worker's three options (the first six arguments, in any order) and the entry arguments after them.
(Julia 1.5 drops a `--` from ARGS, so no separator is used.)"""
function parse_options(argv)
    usage = "usage: worker.jl --module NAME --request-fd N --reply-fd M [ENTRY ARGS...]"
    length(argv) >= 6 || error("worker.jl: too few arguments; $usage")
    options = Dict(argv[i] => argv[i+1] for i in 1:2:5)
    for key in ("--module", "--request-fd", "--reply-fd")
        haskey(options, key) || error("worker.jl: missing $key; $usage")
    end
    return options, argv[7:end]
end

"""The pipe descriptor `fd`, marked close-on-exec so that programs the app runs do not hold the pipes open."""
function pipe_stream(fd::Int)
    F_SETFD, FD_CLOEXEC = 2, 1  # the same on Linux and macOS
    Sys.isunix() && ccall(:fcntl, Cint, (Cint, Cint, Cint...), fd, F_SETFD, FD_CLOEXEC)
    return fdio(fd)
end

function main(argv)
    options, args = parse_options(argv)
    pipes = Pipes(pipe_stream(parse(Int, options["--request-fd"])), pipe_stream(parse(Int, options["--reply-fd"])),
               UInt8[], IOBuffer())
    app = try
        Base.invokelatest(start_app, import_app(options["--module"]), args)
    catch e
        send_error(pipes, 0, e, catch_backtrace(), "loading $(options["--module"])")
        exit(1)
    end
    write_le(pipes.reply, PROTOCOL)
    write(pipes.reply, string(VERSION))
    send_frame(pipes, FRAME_READY)
    try
        Base.invokelatest(serve, pipes, app)
    catch e
        send_error(pipes, 0, e, catch_backtrace(), "reading a request")
        exit(2)
    end
end

end # module

JuliapackWorker.main(ARGS)
