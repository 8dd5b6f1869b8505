# The end of the notebook for an inference-server competition: the competition's gateway calls predict
# batch by batch; a Julia worker, started before the server, answers each call.

# %%
# Julia starts in the background at once; the server is entered right after, whatever Julia's load time
# (the first predict call, which has no deadline, waits for the app's setup).
import sys

cell_started = time.monotonic()
SERVE = CONFIG["serve"]
sys.path.insert(0, SERVE["bridge"])
import juliapack_bridge

model = CONFIG["model"]
model_path = str(find_input(model["dataset"], model["file"])) if model else ""
# The offline rehearsal adds Julia flags of its own (--compiled-modules=strict, -C generic); Kaggle sets none.
worker = juliapack_bridge.start_worker(
    CONFIG["julia"]["path"],
    project=SERVE["project"],
    module=SERVE["module"],
    args=[model_path if arg == "{model}" else arg for arg in SERVE["args"]],
    deadline=SERVE["deadline"],
    julia_flags=SERVE["julia_flags"] + shlex.split(os.environ.get("JULIAPACK_JULIA_FLAGS", "")),
)
worker_predict = worker.as_predict()
call_seconds = []
first_answer_seconds = []


def predict(*args):
    """The competition's endpoint (the relay finds it by this name): one batch to the Julia worker."""
    started = time.monotonic()
    answer = worker_predict(*args)
    call_seconds.append(time.monotonic() - started)
    if not first_answer_seconds:
        first_answer_seconds.append(time.monotonic() - cell_started)
    return answer


def competition_folder(slug):
    """Where Kaggle mounted the competition's data (and its kaggle_evaluation package)."""
    for candidate in (INPUT / slug, *sorted(INPUT.glob(f"*/{slug}"))):
        if (candidate / "kaggle_evaluation").is_dir():
            return candidate
    return juliapack_bridge.find_competition_dir(INPUT)


def per_call(seconds, share):
    """The time per call (ms) that ``share`` of the calls after the first stayed within."""
    ordered = sorted(seconds[1:]) or seconds
    return 1000 * ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


folder = competition_folder(SERVE["competition"])
print(f"juliapack: entering the competition server ({folder}) {time.monotonic() - cell_started:.2f} s after the cell started", flush=True)
juliapack_bridge.enter_server(predict, competition_dir=folder, server=SERVE["server"])
worker.close()
print(
    f"juliapack: served {len(call_seconds)} calls; per call after the first p50 {per_call(call_seconds, 0.5):.3f} ms, "
    f"p99 {per_call(call_seconds, 0.99):.3f} ms; first answer {first_answer_seconds[0] if first_answer_seconds else float('nan'):.2f} s "
    "after the cell started",
    flush=True,
)

# %%
submission = Path(CONFIG["submission"])
if not submission.is_file():
    raise FileNotFoundError(f"juliapack: the competition's gateway did not write {submission}")
print(f"juliapack: submission written to {submission} ({submission.stat().st_size} bytes)")
