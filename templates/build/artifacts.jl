# Make every artifact of the active project and its Manifest present, lazy ones included (Kaggle has no
# internet to fetch them later), chosen the way Pkg chooses them, and write the report juliapack prunes
# and checks the depot with.
# Usage: julia --startup-file=no --project=APP artifacts.jl REPORT_PATH [TARGET_TRIPLET]
#
# Report lines (tab-separated, sorted):
#   package        NAME  UUID  SOURCE        each Manifest package with a source folder
#   extension      EXT   OWNER               extensions of each package and of the project itself
#   artifact       HASH  OWNER               every hash an Artifacts.toml references (all platforms)
#   selected       HASH  OWNER  NAME  HOW    what was installed for the target (HOW: hook, select, meta)
#   selector       OWNER  COUNT              a package's select_artifacts.jl ran and chose COUNT artifacts
#   project        NAME  UUID  DIR           the active project (UUID empty when it is no package)
#   scratchspace   UUID  OWNER               scratch spaces that must be kept beyond the Manifest's
#   manifest       PATH                      the Manifest Julia's loader reads for this project
#   bundled-depot  PATH                      depots of DEPOT_PATH's default that live in the Julia prefix
using Pkg

const Artifacts = Pkg.Artifacts
include(joinpath(@__DIR__, "env_info.jl"))


# Pkg uses the first of these that exists and ignores the other; the report names both so neither is pruned.
artifacts_tomls(dir) = filter(isfile, [joinpath(dir, "JuliaArtifacts.toml"), joinpath(dir, "Artifacts.toml")])

function referenced_hashes(dict)
    hashes = String[]
    for (_, entries) in dict, meta in (entries isa AbstractVector ? entries : [entries])
        push!(hashes, meta["git-tree-sha1"])
    end
    return hashes
end

function extension_names(dir)
    for file in ("JuliaProject.toml", "Project.toml")
        path = joinpath(dir, file)
        isfile(path) && return sort(collect(keys(get(parse_toml(path), "extensions", Dict()))))
    end
    return String[]
end

# Pkg 1.7 added both the selection API and the `.pkg/select_artifacts.jl` hook; 1.5 and 1.6 pick with
# `artifact_meta` for the host platform.
selection_api() = isdefined(Artifacts, :select_downloadable_artifacts)

function host_triplet()
    isdefined(Base, :BinaryPlatforms) && return Base.BinaryPlatforms.triplet(Base.BinaryPlatforms.HostPlatform())
    return Pkg.BinaryPlatforms.triplet(Pkg.BinaryPlatforms.platform_key_abi())
end

# Only for the selection API (1.7+), which takes a Base.BinaryPlatforms platform.
target_platform(triplet) = triplet == host_triplet() ? Base.BinaryPlatforms.HostPlatform() :
                           parse(Base.BinaryPlatforms.Platform, triplet)

# As Pkg's Operations.collect_artifacts: the hook runs in its own process with the project inherited
# (for its preferences, e.g. CUDA_Runtime_jll's version), stdlibs loadable, from its own folder, given
# the target triplet; it prints the selection as TOML.
function selector_command(selector, triplet)
    code = "push!(Base.LOAD_PATH, \"@stdlib\"); cd($(repr(dirname(selector)))); include($(repr(selector)))"
    return `$(Base.julia_cmd()) -O0 --compile=min -t1 --startup-file=no --color=no --history-file=no
            --project=$(Base.active_project()) --eval $code $triplet`
end

function run_selector(selector, triplet)
    output = read(selector_command(selector, triplet), String)
    try
        return Pkg.TOML.parse(output)
    catch err
        error("$(selector) printed no valid TOML ($(sprint(showerror, err))); it printed:\n$(output)")
    end
end

function select_by_meta(toml)
    dict = Artifacts.load_artifacts_toml(toml)
    selected = Dict{String,Any}()
    for name in keys(dict)
        meta = Artifacts.artifact_meta(name, dict, toml)
        meta === nothing || !haskey(meta, "download") || (selected[name] = meta)
    end
    return selected
end

# (selection, how) for one package folder: its hook, else Pkg's selection, else the 1.5/1.6 loop.
function select_artifacts(dir, toml; hooks::Bool, triplet)
    selector = joinpath(dir, ".pkg", "select_artifacts.jl")
    hooks && isfile(selector) && return run_selector(selector, triplet), "hook"
    if selection_api()
        platform = target_platform(triplet)
        return Artifacts.select_downloadable_artifacts(toml; platform, include_lazy = true), "select"
    end
    return select_by_meta(toml), "meta"
end

function install_selected(owner, toml, selected, how)
    lines = String[]
    for name in sort(collect(keys(selected)))
        meta = selected[name]
        Artifacts.ensure_artifact_installed(name, meta, toml)
        println("artifact ", owner, "/", name, get(meta, "lazy", false) ? " (lazy)" : "", " present (", how, ")")
        push!(lines, tsv("selected", meta["git-tree-sha1"], owner, name, how))
    end
    return lines
end

function artifact_lines(owner, dir; hooks::Bool, triplet)
    tomls = artifacts_tomls(dir)
    isempty(tomls) && return String[]
    lines = [tsv("artifact", hash, owner) for toml in tomls for hash in referenced_hashes(Artifacts.load_artifacts_toml(toml))]
    selected, how = select_artifacts(dir, first(tomls); hooks, triplet)
    how == "hook" && push!(lines, tsv("selector", owner, length(selected)))
    return append!(lines, install_selected(owner, first(tomls), selected, how))
end

project_name(project_file) = get(parse_toml(project_file), "name", basename(dirname(project_file)))

# Pkg.dependencies() leaves the project out: its own extensions and scratch space are reported here.
function project_lines(project_file)
    project = parse_toml(project_file)
    name = project_name(project_file)
    uuid = get(project, "uuid", "")
    lines = [tsv("project", name, uuid, dirname(project_file))]
    append!(lines, [tsv("extension", ext, name) for ext in sort(collect(keys(get(project, "extensions", Dict()))))])
    isempty(uuid) || push!(lines, tsv("scratchspace", uuid, name))
    manifest = active_manifest(project_file)
    manifest === nothing || push!(lines, tsv("manifest", manifest))
    return lines
end

# The default DEPOT_PATH of the Julia being run (JULIA_DEPOT_PATH unset), keeping what lies in its prefix.
function bundled_depot_lines()
    prefix = rstrip(normpath(joinpath(Sys.BINDIR, "..")), '/') * "/"
    command = `$(Base.julia_cmd()) --startup-file=no -e 'foreach(println, DEPOT_PATH)'`
    defaults = withenv(() -> readlines(command), "JULIA_DEPOT_PATH" => nothing)
    return [tsv("bundled-depot", normpath(depot)) for depot in defaults if startswith(normpath(depot), prefix)]
end

function report_lines(; hooks::Bool, triplet)
    project_file = Base.active_project()
    lines = [project_lines(project_file); bundled_depot_lines()]
    sources = [(project_name(project_file), dirname(project_file))]
    for (uuid, info) in Pkg.dependencies()
        info.source === nothing && continue
        push!(lines, tsv("package", info.name, string(uuid), info.source))
        append!(lines, [tsv("extension", ext, info.name) for ext in extension_names(info.source)])
        push!(sources, (info.name, info.source))
    end
    for (owner, dir) in sources
        append!(lines, artifact_lines(owner, dir; hooks, triplet))
    end
    return sort(unique(lines))
end

function main(args)
    triplet = length(args) >= 2 ? args[2] : host_triplet()
    lines = report_lines(; hooks = selection_api(), triplet)
    open(args[1], "w") do io
        foreach(line -> println(io, line), lines)
    end
end

# Included by a test to call one function, this file does nothing; run as a script, it writes the report.
abspath(PROGRAM_FILE) == abspath(@__FILE__) && main(ARGS)
