# After the last precompile: would the notebook load every package, extension and the app from a cache?
# A cache that is missing or stale here is compiled again on Kaggle, offline, at every start.
# Usage: julia --startup-file=no --project=APP check_caches.jl REPORT_PATH
# Exits 1 when anything would compile again. Julia 1.10+ (Base.isprecompiled); earlier a no-op that says so.
#
# Report lines (tab-separated), also printed:
#   skipped           REASON                 nothing was checked (Julia < 1.10)
#   precompile-error  MESSAGE                Pkg.precompile(strict=true), run when something is stale, failed
#   stale             NAME  KIND             no valid cache for NAME (KIND: package, extension of P, app)
#   cache             NAME  PATH             the .ji file Base would load for NAME
#   checked           COUNT                  how many were checked
using Pkg
include(joinpath(@__DIR__, "env_info.jl"))


# What Pkg.precompile builds: every Manifest package and each extension whose triggers are present,
# plus the project when it is a package; what the sysimage already holds never has a cache file.
function targets(project_file)
    manifest = active_manifest(project_file)
    entries = manifest === nothing ? Tuple{String,Dict{String,Any}}[] : manifest_entries(parse_toml(manifest))
    present = Set(first.(entries))
    found = Tuple{Base.PkgId,String}[]
    for (name, entry) in entries
        haskey(entry, "uuid") || continue
        id = Base.PkgId(Base.UUID(entry["uuid"]), name)
        push!(found, (id, "package"))
        append!(found, extension_targets(id, entry, present))
    end
    app = project_package(project_file)
    if app !== nothing
        push!(found, (app, "app"))
        append!(found, extension_targets(app, parse_toml(project_file), present))
    end
    return filter(target -> !in_sysimage(first(target)), found)
end

in_sysimage(id) = isdefined(Base, :in_sysimage) && Base.in_sysimage(id)

extension_targets(parent, table, present) =
    [(Base.PkgId(Base.uuid5(parent.uuid, ext), ext), "extension of $(parent.name)") for ext in loadable_extensions(table, present)]

# The cache file loading would pick. Newer Julia has Base.compilecache_path(pkgid; ...) for this (older
# ones have a two-argument function of that name that makes a new path); otherwise try the candidates in
# Base's order (pkgimages first, newest first) and take the first that is not stale, as 1.10 does.
function loaded_cache(id)
    if isdefined(Base, :compilecache_path) && hasmethod(Base.compilecache_path, Tuple{Base.PkgId})
        return Base.compilecache_path(id; ignore_loaded = true)
    end
    source = Base.locate_package(id)
    source === nothing && return nothing
    for path in Base.find_all_in_cache_path(id)
        Base.stale_cachefile(source, path; ignore_loaded = true) === true || return path
    end
    return nothing
end

function strict_precompile()
    try
        Pkg.precompile(; strict = true)
        return String[]
    catch err
        messages = split(sprint(showerror, err), '\n'; keepempty = false)
        return [tsv("precompile-error", isempty(messages) ? "(no message)" : strip(first(messages)))]
    end
end

function check_one(id, kind)
    precompiled = try
        Base.isprecompiled(id; ignore_loaded = true)
    catch err
        @warn "cannot check $(id.name)" exception = err
        false
    end
    precompiled || return tsv("stale", id.name, kind)
    path = try loaded_cache(id) catch; nothing end
    return tsv("cache", id.name, something(path, ""))
end

# Pkg.precompile(strict=true) runs only when something is stale, to print why: it compiles what is
# missing into DEPOT_PATH[1], which must not turn a failed check into a passed one.
function check_lines(project_file)
    checked = targets(project_file)
    lines = [check_one(id, kind) for (id, kind) in checked]
    any(line -> startswith(line, "stale\t"), lines) && append!(lines, strict_precompile())
    return push!(lines, tsv("checked", length(checked)))
end

function main(report_path)
    lines = if isdefined(Base, :isprecompiled)
        check_lines(Base.active_project())
    else
        [tsv("skipped", "Julia $(VERSION) has no Base.isprecompiled (1.10+): caches not checked")]
    end
    foreach(println, lines)
    open(io -> foreach(line -> println(io, line), lines), report_path, "w")
    return any(line -> startswith(line, "stale\t") || startswith(line, "precompile-error\t"), lines) ? 1 : 0
end

abspath(PROGRAM_FILE) == abspath(@__FILE__) && exit(main(ARGS[1]))
