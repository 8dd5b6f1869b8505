# Make every artifact of the active project and its Manifest present, lazy ones included (Kaggle has no
# internet to fetch them later), and write the report juliapack prunes the depot with: each package's
# source folder and every artifact hash any of them references (all platforms).
# Usage: julia --project=APP artifacts.jl REPORT_PATH
using Pkg

const Artifacts = Pkg.Artifacts

artifacts_tomls(dir) = filter(isfile, [joinpath(dir, "JuliaArtifacts.toml"), joinpath(dir, "Artifacts.toml")])

function referenced_hashes(dict)
    hashes = String[]
    for (_, entries) in dict
        for meta in (entries isa AbstractVector ? entries : [entries])
            push!(hashes, meta["git-tree-sha1"])
        end
    end
    return hashes
end

# Julia 1.9+ caches a package extension under compiled/vX.Y/<ExtName>/: report the names so it is kept.
function extension_names(dir)
    for file in ("JuliaProject.toml", "Project.toml")
        path = joinpath(dir, file)
        isfile(path) && return sort(collect(keys(get(Pkg.TOML.parsefile(path), "extensions", Dict()))))
    end
    return String[]
end

function ensure_present(owner, toml, dict)
    for name in sort(collect(keys(dict)))
        meta = Artifacts.artifact_meta(name, dict, toml)
        meta === nothing && continue  # nothing for this platform
        Artifacts.ensure_artifact_installed(name, meta, toml)
        println("artifact ", owner, "/", name, get(meta, "lazy", false) ? " (lazy)" : "", " present")
    end
end

function main(report_path)
    lines = String[]
    sources = [("(project)", dirname(Base.active_project()))]
    for (uuid, info) in Pkg.dependencies()
        info.source === nothing && continue
        push!(lines, join(("package", info.name, string(uuid), info.source), '\t'))
        append!(lines, [join(("extension", ext, info.name), '\t') for ext in extension_names(info.source)])
        push!(sources, (info.name, info.source))
    end
    for (owner, dir) in sources, toml in artifacts_tomls(dir)
        dict = Artifacts.load_artifacts_toml(toml)
        append!(lines, [join(("artifact", hash, owner), '\t') for hash in referenced_hashes(dict)])
        ensure_present(owner, toml, dict)
    end
    open(report_path, "w") do io
        foreach(line -> println(io, line), sort(unique(lines)))
    end
end

main(ARGS[1])
