"""The fake Kaggle speaks the real client's protocol: the client's own high-level API and CLI work against it.

These run the official client in a fresh process (its import-time setup exactly as a user gets it),
so they also show the fake reproduces the client traps juliapack guards against.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from kaggle_fixtures import KEY, ROOT, USER, FakeKaggle, make_dist

CLIENT_SCRIPT = textwrap.dedent(
    """
    import json, os, pathlib, sys
    from kaggle.api.kaggle_api_extended import KaggleApi

    work = pathlib.Path(sys.argv[1])
    api = KaggleApi()
    api.authenticate()
    out = {"user": api.get_config_value("username")}

    def dataset_folder(name, ref, title, files):
        folder = work / name
        folder.mkdir()
        for file, data in files.items():
            (folder / file).write_bytes(data)
        meta = {"id": ref, "title": title, "licenses": [{"name": "CC0-1.0"}]}
        (folder / "dataset-metadata.json").write_text(json.dumps(meta))
        return str(folder)

    made = dataset_folder("made", "alice/client-made", "Client made data", {"data.bin": b"x" * 100000})
    answer = api.dataset_create_new(made, quiet=True)
    out["create"] = [answer.status, answer.error]
    out["status"] = api.dataset_status("alice/client-made")
    out["files"] = [[f.name, f.total_bytes] for f in api.dataset_list_files("alice/client-made").dataset_files]
    answer = api.dataset_create_version(made, "second", quiet=True)
    out["version"] = [answer.status, answer.error]
    out["mine"] = sorted(d.ref for d in api.dataset_list(mine=True))

    # the trap: a PUT answered with HTTP 500 (injected for trap.bin) and the client creates the dataset anyway
    trapped = dataset_folder("trapped", "alice/client-trapped", "Client trapped data", {"good.bin": b"g" * 1000, "trap.bin": b"t" * 1000})
    try:
        answer = api.dataset_create_new(trapped, quiet=True)
        out["trapped"] = [answer.status, sorted(f.name for f in api.dataset_list_files("alice/client-trapped").dataset_files)]
    except Exception as error:  # 2.2.5 raises where 2.2.4 dropped the file
        out["trapped"] = ["raised", type(error).__name__]
    import importlib.metadata
    out["client"] = importlib.metadata.version("kaggle")

    kernel = work / "kernel"
    kernel.mkdir()
    (kernel / "run.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    meta = {"id": "alice/client-kernel", "title": "Client kernel", "code_file": "run.ipynb", "language": "python",
            "kernel_type": "notebook", "dataset_sources": ["alice/client-made"]}
    (kernel / "kernel-metadata.json").write_text(json.dumps(meta))
    answer = api.kernels_push(str(kernel))
    out["push"] = [answer.ref, answer.version_number, answer.error]
    out["kstatus"] = [api.kernels_status("alice/client-kernel").status.name for _ in range(2)]
    files, _ = api.kernels_output("alice/client-kernel", str(work / "kout"))
    out["outputs"] = sorted(os.path.relpath(f, work / "kout") for f in files)
    out["submission"] = (work / "kout" / "submission.csv").read_text()
    api.kernels_pull("alice/client-kernel", str(work / "pulled"), metadata=True)
    out["pulled"] = json.loads((work / "pulled" / "kernel-metadata.json").read_text())["dataset_sources"]
    print(json.dumps(out))
    """
)


def client_process_env(fake_url: str, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAGGLE_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    proxy = {"HTTP_PROXY": fake_url, "http_proxy": fake_url, "NO_PROXY": "", "no_proxy": ""}
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return {**env, **proxy, "KAGGLE_API_ENVIRONMENT": "LOCALHOST", "HOME": str(home), "TMPDIR": str(home / "tmp"), **extra}


def test_the_clients_own_api_works_against_the_fake(fake: FakeKaggle, tmp_path: Path) -> None:
    fake.kernel_run("alice/client-kernel", steps=("RUNNING",), outputs={"submission.csv": b"id,y\n1,2\n"}, log="[]")
    fake.inject("PUT", status=500, match="trap.bin")
    env = client_process_env(fake.proxy_url, tmp_path / "home", KAGGLE_USERNAME=USER, KAGGLE_KEY=KEY)
    done = subprocess.run([sys.executable, "-c", CLIENT_SCRIPT, str(tmp_path)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["user"] == USER
    assert out["create"] == ["Ok", ""]  # a success's error is "", as from Kaggle
    assert out["status"] == "ready"
    assert out["files"] == [["data.bin", 100000]]
    assert out["version"] == ["Ok", ""]
    assert out["mine"] == ["alice/client-made"]
    if tuple(int(part) for part in out["client"].split(".")) < (2, 2, 5):
        assert out["trapped"] == ["Ok", ["good.bin"]]  # 2.2.4: created without the file whose upload failed
    else:
        assert out["trapped"][0] == "raised"  # 2.2.5 raises on a failed file upload (kaggle-cli #1150)
    assert out["push"] == ["alice/client-kernel", 1, ""]
    assert out["kstatus"] == ["RUNNING", "COMPLETE"]
    assert out["outputs"] == ["client-kernel.log", "submission.csv"]
    assert out["submission"] == "id,y\n1,2\n"
    assert out["pulled"] == ["alice/client-made"]
    assert fake.saved_kernel("alice/client-kernel")["enableInternet"] is True  # the client's default, hence juliapack's explicit false


def test_the_standalone_fake_serves_the_kaggle_cli_and_juliapack(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "testbed" / "fake_kaggle.py"), "--port", "0", "--root", str(tmp_path / "fake"), "--user", USER, "--key", KEY, "--ready-after", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        env = client_process_env(url, tmp_path / "home", KAGGLE_USERNAME=USER, KAGGLE_KEY=KEY, COLUMNS="300")
        listed = subprocess.run([sys.executable, "-m", "kaggle", "datasets", "list", "--mine"], env=env, capture_output=True, text=True, timeout=120)
        assert listed.returncode == 0, listed.stderr
        assert "No datasets found" in listed.stdout

        dist = make_dist(tmp_path / "dist")
        uploaded = subprocess.run(
            [sys.executable, "-m", "juliapack", "upload", "--dist", str(dist.path)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert uploaded.returncode == 0, uploaded.stderr
        assert "sent " in uploaded.stdout and "(100.0% of a full upload)" in uploaded.stdout
        listed = subprocess.run([sys.executable, "-m", "kaggle", "datasets", "list", "--mine"], env=env, capture_output=True, text=True, timeout=120)
        assert [line.split()[0] for line in listed.stdout.splitlines() if line.startswith(f"{USER}/")] == [
            f"{USER}/inference-julia", f"{USER}/inference-depot", f"{USER}/inference-compiled", f"{USER}/inference-app",
        ]  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()


@pytest.mark.parametrize("authorization", [None, "Basic " + "YWxpY2U6d3Jvbmc=", "Bearer nope"])
def test_the_fake_refuses_bad_credentials(fake: FakeKaggle, authorization: str | None) -> None:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=10)
    headers = {"Content-Type": "application/json", **({"Authorization": authorization} if authorization else {})}
    connection.request("POST", "http://localhost/api/v1/datasets.DatasetApiService/ListDatasets", body="{}", headers=headers)
    response = connection.getresponse()
    assert (response.status, json.loads(response.read())) == (401, {"code": 401, "message": "Unauthenticated"})
    connection.close()
