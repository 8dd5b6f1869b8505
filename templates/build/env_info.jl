# The active environment as Julia's loader sees it: which Manifest it reads, the packages in it and the
# extensions that can load. Shared by artifacts.jl and check_caches.jl (included, never run alone).
# Runs on Julia 1.5 and later: newer APIs are guarded with `isdefined`.

parse_toml(path) = Pkg.TOML.parsefile(path)
tsv(fields...) = join(fields, '\t')  # one report line

# The Manifest loading uses: Manifest-vX.Y.toml / JuliaManifest-vX.Y.toml (1.10.8+) and a 1.12 workspace
# member's root Manifest are resolved by Base itself, so ask it rather than guess.
function active_manifest(project_file)
    found = isdefined(Base, :project_file_manifest_path) ? Base.project_file_manifest_path(project_file) : nothing
    found === nothing && (found = Pkg.Types.EnvCache().manifest_file)
    return isfile(found) ? found : nothing  # 1.5 names Manifest.toml even when there is none
end

# Format 2 (Julia 1.6+) keeps the packages under [deps]; format 1 has them at the top level.
function manifest_entries(manifest)
    table = haskey(manifest, "manifest_format") ? get(manifest, "deps", Dict{String,Any}()) : manifest
    entries = Tuple{String,Dict{String,Any}}[]
    for (name, list) in table
        list isa AbstractVector || continue
        append!(entries, [(name, entry) for entry in list if entry isa AbstractDict])
    end
    return sort(entries; by = first)
end

triggers_of(spec) = spec isa AbstractString ? [String(spec)] : String[String(s) for s in spec]

# Extensions of a Project.toml or Manifest entry whose triggers are all in the Manifest: the ones Pkg
# precompiles and `using` can load.
function loadable_extensions(table, present)
    extensions = get(table, "extensions", Dict{String,Any}())
    return sort([ext for (ext, spec) in extensions if all(in(present), triggers_of(spec))])
end

# The project is a package when it has a name, a uuid and src/<name>.jl; its cache is "the app".
function project_package(project_file)
    project = parse_toml(project_file)
    name, uuid = get(project, "name", nothing), get(project, "uuid", nothing)
    (name === nothing || uuid === nothing) && return nothing
    isfile(joinpath(dirname(project_file), "src", "$(name).jl")) || return nothing
    return Base.PkgId(Base.UUID(uuid), name)
end
