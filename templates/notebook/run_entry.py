# The end of the notebook for a competition that runs a script: the app writes the submission.

# %%
def run_entry_point(command):
    """Run Julia, streaming its output; a non-zero exit fails this cell (and the notebook)."""
    started = time.monotonic()
    first_output = None
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1) as julia:
        for line in julia.stdout:
            if first_output is None:
                first_output = time.monotonic() - started
                print(f"juliapack: first output after {first_output:.2f} s", flush=True)
            print(line, end="", flush=True)
    print(f"juliapack: julia exited with code {julia.returncode} after {time.monotonic() - started:.2f} s", flush=True)
    if julia.returncode != 0:
        raise RuntimeError(f"Julia failed with exit code {julia.returncode}: see its output above")


model = CONFIG["model"]
model_path = str(find_input(model["dataset"], model["file"])) if model else ""
command = [model_path if arg == "{model}" else arg for arg in CONFIG["command"]]
# The offline rehearsal adds Julia flags of its own here (--compiled-modules=strict, -C generic); Kaggle sets none.
run_entry_point(command[:1] + shlex.split(os.environ.get("JULIAPACK_JULIA_FLAGS", "")) + command[1:])

# %%
submission = Path(CONFIG["submission"])
if not submission.is_file():
    raise FileNotFoundError(f"juliapack: the entry point did not write {submission}")
print(f"juliapack: submission written to {submission} ({submission.stat().st_size} bytes)")
print("\n".join(submission.read_text().splitlines()[:5]))
