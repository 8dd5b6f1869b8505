#!/usr/bin/env python3
"""A fake Kaggle API on 127.0.0.1 that the real, unpatched `kaggle` client (2.2.x) talks to.

It speaks the client's wire protocol: ``POST /api/v1/<Service>/<Method>`` with camelCase JSON, Basic
(user:key) or Bearer (token) auth, logical errors as HTTP 200 with ``status``/``error``, resumable blob
uploads (StartBlobUpload -> createUrl; PUT; ``Content-Range: bytes */N`` -> 308 + ``Range``), datasets
(create, version, status, files, metadata, list), kernels (save, session status, output, get) and the
OAuth token introspection behind KAGGLE_API_TOKEN. Uploads are stored under ``--root``, so upload URLs
stay valid across client runs (and across restarts of the fake).

The client reaches it with::

    KAGGLE_API_ENVIRONMENT=LOCALHOST HTTP_PROXY=http://127.0.0.1:PORT http_proxy=http://127.0.0.1:PORT \\
    NO_PROXY= no_proxy=     # and HTTPS_PROXY/ALL_PROXY unset

(the client then sends ``POST http://localhost/api/v1/...`` to the proxy, which is this server).

Run standalone (prints its URL on stdout):

    python3 testbed/fake_kaggle.py --port 8765 --root /tmp/fake-kaggle --user alice --key secret

Tests use the FakeKaggle class directly: ``inject`` queues faults (HTTP errors, 429 with Retry-After,
a failed or dropped PUT, slow answers, logical errors such as an exceeded quota), ``kernel_run`` scripts
what a pushed notebook does, and ``bytes_received``/``calls``/``datasets`` expose what happened.
Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import http.server
import json
import os
import re
import secrets
import socket
import struct
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UPLOAD_PREFIX = "http://localhost/upload/"
OUTPUT_PREFIX = "http://localhost/kernel-output/"
WEB = "http://localhost"
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
# Kaggle's machine shapes (kaggle-cli docs/kernels.md): SaveKernel refuses any other.
MACHINE_SHAPES = (
    "NvidiaTeslaT4", "NvidiaTeslaP100", "NvidiaL4", "NvidiaL4X1", "NvidiaTeslaA100", "NvidiaH100", "NvidiaRtxPro6000",
    "TpuV38", "Tpu1VmV38", "TpuV5E8", "TpuV6E8",
)  # fmt: skip
KERNEL_STATES = ("QUEUED", "RUNNING", "COMPLETE", "ERROR", "CANCEL_REQUESTED", "CANCEL_ACKNOWLEDGED", "NEW_SCRIPT")
EPOCH = "2024-01-01T00:00:00.000Z"


@dataclass
class Fault:
    """One injected misbehaviour for the next ``times`` calls of ``op`` (a method name, or "PUT"/"GET")."""

    op: str
    times: int = 1
    status: int | None = None  # answer with this HTTP status (a JSON error body)
    retry_after: str | None = None  # Retry-After header for the status answer
    delay: float = 0.0  # sleep before answering (a slow server)
    error: str | None = None  # a logical error: HTTP 200 with status/error fields
    drop_after: int | None = None  # PUT: read this many bytes, then reset the connection
    lost_answer: bool = False  # do the work, then answer with ``status`` (the client never learns it worked)
    drop_file: str | None = None  # CreateDataset/CreateDatasetVersion: the new version loses this file
    match: str | None = None  # only calls whose JSON body (or upload name) contains this text
    hits: int = 0


@dataclass
class KernelRun:
    """What the next session of a kernel does after SaveKernel."""

    steps: tuple[str, ...] = ("QUEUED", "RUNNING")
    outcome: str = "COMPLETE"  # or ERROR, CANCEL_ACKNOWLEDGED
    failure_message: str = ""
    outputs: dict[str, bytes] = field(default_factory=dict)
    log: str = ""


class _Reset(Exception):
    """Drop the connection without an answer."""


class Answer(Exception):
    """Raised by a handler to answer right away (an HTTP error, or a JSON body)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def http_error(status: int, message: str) -> Answer:
    return Answer(status, {"code": status, "message": message})


class FakeKaggle:
    """The server state plus a ThreadingHTTPServer; ``start`` it, point the client at ``proxy_url``."""

    def __init__(
        self,
        root: Path,
        *,
        users: dict[str, str],
        tokens: dict[str, str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        ready_after: int = 1,
        quota_bytes: int = 200 * 10**9,
        fail_processing: bool = False,
    ) -> None:
        self.root = Path(root)
        self.users = dict(users)  # user -> key
        self.tokens = dict(tokens or {})  # bearer token -> user
        self.ready_after = ready_after  # GetDatasetStatus polls a new version answers before READY
        self.quota_bytes = quota_bytes  # private bytes per user, as Kaggle's 200 GB
        self.fail_processing = fail_processing  # new dataset versions end FAILED instead of READY
        self.faults: list[Fault] = []
        self.kernel_runs: dict[str, KernelRun] = {}
        self.calls: list[str] = []
        self.lock = threading.RLock()
        self.state = self._load_state()
        self._server = http.server.ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FakeKaggle:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-kaggle", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def client_env(self) -> dict[str, str]:
        """The environment that sends the official client here (HTTPS_PROXY/ALL_PROXY must be unset)."""
        return {
            "KAGGLE_API_ENVIRONMENT": "LOCALHOST",
            "HTTP_PROXY": self.proxy_url,
            "http_proxy": self.proxy_url,
            "NO_PROXY": "",
            "no_proxy": "",
        }

    # ------------------------------------------------------------------ test controls

    def inject(self, op: str, **kwargs: Any) -> Fault:
        fault = Fault(op=op, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    def kernel_run(self, ref: str, **kwargs: Any) -> KernelRun:
        run = KernelRun(**kwargs)
        with self.lock:
            self.kernel_runs[ref] = run
        return run

    def seed_dataset(self, owner: str, slug: str, *, title: str | None = None, private: bool = True, description: str = "") -> None:
        """A dataset that exists before the test (e.g. someone else's)."""
        with self.lock:
            self.state["datasets"][f"{owner}/{slug}"] = {
                "owner": owner, "slug": slug, "title": title or slug, "private": private, "license": "other",
                "versions": [{"number": 1, "files": [], "notes": "seeded", "description": description, "polls": 99, "failed": False}],
                "id": self._next_id(),
            }  # fmt: skip
            self._save()

    @property
    def bytes_received(self) -> int:
        return self.state["bytes_received"]

    def versions(self, ref: str) -> list[dict[str, Any]]:
        dataset = self.state["datasets"].get(ref)
        return list(dataset["versions"]) if dataset else []

    def stored_files(self, ref: str) -> dict[str, bytes]:
        """name -> bytes of the latest version of a dataset, as stored."""
        latest = self.versions(ref)[-1]
        return {f["name"]: (self.root / "blobs" / f["blob"]).read_bytes() for f in latest["files"]}

    def saved_kernel(self, ref: str) -> dict[str, Any]:
        return self.state["kernels"][ref]["request"]

    # ------------------------------------------------------------------ state

    def _load_state(self) -> dict[str, Any]:
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        path = self.root / "state.json"
        if path.is_file():
            return json.loads(path.read_text())
        return {"blobs": {}, "datasets": {}, "kernels": {}, "bytes_received": 0, "next_id": 1}

    def _save(self) -> None:
        path = self.root / "state.json"
        temp = path.with_suffix(".tmp")
        temp.write_text(json.dumps(self.state, indent=1, sort_keys=True))
        os.replace(temp, path)

    def _next_id(self) -> int:
        self.state["next_id"] += 1
        return self.state["next_id"]

    def take_fault(self, op: str, text: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.op == op and fault.times > 0 and (fault.match is None or fault.match in text):
                    fault.times -= 1
                    fault.hits += 1
                    return fault
        return None

    def user_for(self, authorization: str | None) -> str | None:
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        if scheme == "Bearer":
            return self.tokens.get(value.strip())
        if scheme == "Basic":
            try:
                user, _, key = base64.b64decode(value).decode().partition(":")
            except ValueError:
                return None
            return user if user in self.users and secrets.compare_digest(self.users[user], key) else None
        return None

    # ------------------------------------------------------------------ RPC methods

    def rpc(self, method: str, user: str | None, body: dict[str, Any], fault: Fault | None = None) -> dict[str, Any]:
        if method == "IntrospectToken":  # answers for any caller, about the token in the body
            owner = self.tokens.get(body.get("token", ""))
            return {"active": True, "username": owner, "clientId": "fake"} if owner else {"active": False}
        if user is None:
            raise http_error(401, "Unauthenticated")
        handler = getattr(self, f"_rpc_{method}", None)
        if handler is None:
            raise http_error(404, f"fake Kaggle does not implement {method}")
        with self.lock:
            answer = handler(user, body)
            if fault and fault.drop_file and answer.get("status") == "Ok":
                latest = self.state["datasets"][answer["ref"]]["versions"][-1]
                latest["files"] = [f for f in latest["files"] if f["name"] != fault.drop_file]
            self._save()
            return answer

    def _dataset(self, user: str, body: dict[str, Any], *, write: bool = False) -> dict[str, Any]:
        owner, slug = body.get("ownerSlug", ""), body.get("datasetSlug", "")
        dataset = self.state["datasets"].get(f"{owner}/{slug}")
        if dataset is None:
            if write and owner != user:
                raise http_error(403, f"Permission 'datasets.create' was denied for {owner}")
            raise http_error(404, "Not found")
        if owner != user and (dataset["private"] or write):
            raise http_error(403, f"Permission 'datasets.{'update' if write else 'get'}' was denied")
        return dataset

    def _rpc_GetDatasetStatus(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        latest = self._dataset(user, body)["versions"][-1]
        latest["polls"] += 1
        if latest["failed"]:
            return {"status": "FAILED"}
        return {"status": "READY" if latest["polls"] > self.ready_after else "BLOBS_RECEIVED"}

    def _rpc_GetDatasetMetadata(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        dataset = self._dataset(user, body)
        latest = dataset["versions"][-1]
        info = {
            "datasetId": dataset["id"], "datasetSlug": dataset["slug"], "ownerUser": dataset["owner"],
            "title": dataset["title"], "description": latest["description"], "isPrivate": dataset["private"],
            "licenses": [{"name": dataset["license"]}],
            "data": [{"name": f["name"], "totalBytes": f["size"]} for f in latest["files"]],
        }  # fmt: skip
        return {"info": info}

    def _rpc_GetDataset(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        dataset = self._dataset(user, body)
        return self._dataset_summary(dataset)

    def _dataset_summary(self, dataset: dict[str, Any]) -> dict[str, Any]:
        latest = dataset["versions"][-1]
        return {
            "id": dataset["id"], "ref": f"{dataset['owner']}/{dataset['slug']}", "title": dataset["title"],
            "url": f"{WEB}/datasets/{dataset['owner']}/{dataset['slug']}", "isPrivate": dataset["private"],
            "currentVersionNumber": latest["number"], "description": latest["description"],
            "totalBytes": sum(f["size"] for f in latest["files"]), "lastUpdated": EPOCH, "licenseName": dataset["license"],
        }  # fmt: skip

    def _rpc_ListDatasetFiles(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        dataset = self._dataset(user, body)
        number = body.get("datasetVersionNumber")
        version = next((v for v in dataset["versions"] if v["number"] == number), None) if number else dataset["versions"][-1]
        if version is None:
            raise http_error(404, "No such version")
        files = [
            {"ref": f["name"], "name": f["name"], "totalBytes": f["size"], "creationDate": EPOCH, "datasetRef": f"{dataset['owner']}/{dataset['slug']}"}
            for f in version["files"]
        ]
        start = int(body.get("pageToken") or 0)
        size = int(body.get("pageSize") or 20)
        page = {"datasetFiles": files[start : start + size]}
        if start + size < len(files):
            page["nextPageToken"] = str(start + size)
        return page

    def _rpc_ListDatasets(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        group = body.get("group", "DATASET_SELECTION_GROUP_PUBLIC")
        mine = group == "DATASET_SELECTION_GROUP_MY"
        found = [
            self._dataset_summary(d)
            for d in self.state["datasets"].values()
            if (d["owner"] == user if mine else not d["private"]) and body.get("search", "") in d["slug"]
        ]
        return {"datasets": found}

    def _rpc_StartBlobUpload(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("type") != "DATASET":
            raise http_error(400, f"unsupported blob type {body.get('type')}")
        token = secrets.token_hex(16)
        self.state["blobs"][token] = {"name": body["name"], "size": int(body.get("contentLength", 0)), "received": 0, "user": user}
        (self.root / "blobs" / token).write_bytes(b"")
        return {"token": token, "createUrl": UPLOAD_PREFIX + token}

    def _new_version(self, user: str, body: dict[str, Any], files: list[dict[str, Any]], number: int) -> dict[str, Any] | str:
        """The version record, or the logical error Kaggle would answer."""
        resolved = []
        for item in files:
            blob = self.state["blobs"].get(item.get("token", ""))
            if blob is None or blob["user"] != user:
                return "The file upload token is invalid or expired"
            if blob["received"] != blob["size"]:
                return f"The upload of {blob['name']} is incomplete"
            resolved.append({"name": blob["name"], "size": blob["size"], "blob": item["token"]})
        used = sum(f["size"] for d in self.state["datasets"].values() if d["owner"] == user for v in d["versions"] for f in v["files"])
        if used + sum(f["size"] for f in resolved) > self.quota_bytes:
            return f"Your private datasets would exceed your quota of {self.quota_bytes} bytes. Delete some datasets or versions."
        return {
            "number": number, "files": resolved, "notes": body.get("versionNotes", ""), "description": body.get("description", ""),
            "polls": 0, "failed": self.fail_processing,
        }  # fmt: skip

    def _rpc_CreateDataset(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        owner, slug, title = body.get("ownerSlug", user), body.get("slug", ""), body.get("title", "")
        if owner != user:
            raise http_error(403, f"Permission 'datasets.create' was denied for {owner}")
        if not SLUG.match(slug) or not 6 <= len(slug) <= 50:
            return {"status": "error", "error": "The dataset slug must be between 6 and 50 characters: lowercase letters, digits and dashes"}
        if not 6 <= len(title) <= 50:
            return {"status": "error", "error": "The dataset title must be between 6 and 50 characters"}
        if f"{owner}/{slug}" in self.state["datasets"] or any(d["owner"] == owner and d["title"] == title for d in self.state["datasets"].values()):
            return {"status": "error", "error": f'The requested title "{title}" is already in use by a dataset. Please choose another title.'}
        version = self._new_version(user, body, body.get("files", []), 1)
        if isinstance(version, str):
            return {"status": "error", "error": version}
        self.state["datasets"][f"{owner}/{slug}"] = {
            "owner": owner, "slug": slug, "title": title, "private": body.get("isPrivate", False),
            "license": body.get("licenseName", "unknown"), "versions": [version], "id": self._next_id(),
        }  # fmt: skip
        return {"status": "Ok", "ref": f"{owner}/{slug}", "url": f"{WEB}/datasets/{owner}/{slug}"}

    def _rpc_CreateDatasetVersion(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        dataset = self._dataset(user, body, write=True)
        request = body.get("body", {})
        version = self._new_version(user, request, request.get("files", []), dataset["versions"][-1]["number"] + 1)
        if isinstance(version, str):
            return {"status": "error", "error": version}
        dataset["versions"].append(version)
        return {"status": "Ok", "ref": f"{dataset['owner']}/{dataset['slug']}", "url": f"{WEB}/datasets/{dataset['owner']}/{dataset['slug']}"}

    # kernels

    def _kernel(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        ref = f"{body.get('userName', '')}/{body.get('kernelSlug', '')}"
        kernel = self.state["kernels"].get(ref)
        if kernel is None:
            raise http_error(404, f"Kernel {ref} not found")
        if kernel["owner"] != user and kernel["request"].get("isPrivate", True):
            raise http_error(403, "Permission 'kernels.get' was denied")
        return kernel

    def _rpc_SaveKernel(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        ref = body.get("slug", "")
        owner, _, slug = ref.partition("/")
        if owner != user:
            raise http_error(403, f"Permission 'kernels.create' was denied for {owner}")
        if body.get("language") not in ("python", "r", "rmarkdown") or body.get("kernelType") not in ("script", "notebook"):
            return {"error": "Invalid language or kernel type"}
        if body.get("machineShape") and body["machineShape"] not in MACHINE_SHAPES:
            return {"error": f"Invalid machine shape {body['machineShape']!r}"}
        # As Kaggle does: unknown sources are left out and listed, and the push goes through anyway.
        invalid = [source for source in body.get("datasetDataSources", []) if source not in self.state["datasets"]]
        invalid_models = list(body.get("modelDataSources", []))  # this fake holds no models
        body = {**body, "datasetDataSources": [source for source in body.get("datasetDataSources", []) if source not in invalid], "modelDataSources": []}
        previous = self.state["kernels"].get(ref)
        version = previous["version"] + 1 if previous else 1
        run = self.kernel_runs.get(ref, KernelRun())
        output_dir = self.root / "kernels" / owner / slug
        output_dir.mkdir(parents=True, exist_ok=True)
        for name, data in run.outputs.items():
            (output_dir / name).parent.mkdir(parents=True, exist_ok=True)
            (output_dir / name).write_bytes(data)
        self.state["kernels"][ref] = {
            "owner": owner, "slug": slug, "version": version, "request": body, "id": previous["id"] if previous else self._next_id(),
            "session": {"steps": list(run.steps), "outcome": run.outcome, "failure": run.failure_message, "polls": 0},
            "outputs": sorted(run.outputs), "log": run.log,
        }  # fmt: skip
        answer = {"ref": ref, "url": f"{WEB}/code/{ref}", "versionNumber": version, "kernelId": self.state["kernels"][ref]["id"]}
        return {**answer, **({"invalidDatasetSources": invalid} if invalid else {}), **({"invalidModelSources": invalid_models} if invalid_models else {})}

    def _session_state(self, kernel: dict[str, Any]) -> str:
        session = kernel["session"]
        return session["steps"][session["polls"]] if session["polls"] < len(session["steps"]) else session["outcome"]

    def _rpc_GetKernelSessionStatus(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        kernel = self._kernel(user, body)
        state = self._session_state(kernel)
        kernel["session"]["polls"] += 1
        answer = {"status": state}
        if state == "ERROR" and kernel["session"]["failure"]:
            answer["failureMessage"] = kernel["session"]["failure"]
        return answer

    def _rpc_ListKernelSessionOutput(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        kernel = self._kernel(user, body)
        finished = self._session_state(kernel) in ("COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED")
        names = kernel["outputs"] if finished else []
        files = [{"fileName": name, "url": f"{OUTPUT_PREFIX}{kernel['owner']}/{kernel['slug']}/{urllib.parse.quote(name)}"} for name in names]
        start = int(body.get("pageToken") or 0)
        size = int(body.get("pageSize") or 20)
        page: dict[str, Any] = {"files": files[start : start + size], "log": kernel["log"]}
        if start + size < len(files):
            page["nextPageToken"] = str(start + size)
        return page

    def _rpc_GetKernel(self, user: str, body: dict[str, Any]) -> dict[str, Any]:
        kernel = self._kernel(user, body)
        request = kernel["request"]
        ref = f"{kernel['owner']}/{kernel['slug']}"
        return {
            "blob": {"source": request.get("text", ""), "language": request.get("language"), "kernelType": request.get("kernelType"), "slug": kernel["slug"]},
            "metadata": {
                "id": kernel["id"], "ref": ref, "slug": kernel["slug"], "title": request.get("newTitle", kernel["slug"]),
                "author": kernel["owner"], "language": request.get("language"), "kernelType": request.get("kernelType"),
                "isPrivate": request.get("isPrivate", True), "enableGpu": request.get("enableGpu", False),
                "enableInternet": request.get("enableInternet", False), "datasetDataSources": request.get("datasetDataSources", []),
                "competitionDataSources": request.get("competitionDataSources", []), "kernelDataSources": request.get("kernelDataSources", []),
                "currentVersionNumber": kernel["version"],
            },
        }  # fmt: skip

    # ------------------------------------------------------------------ blob PUT and output GET

    def receive_upload(self, handler: _Handler, token: str) -> tuple[int, dict[str, str]]:
        with self.lock:
            blob = self.state["blobs"].get(token)
        if blob is None:
            self._discard_body(handler)
            return 404, {}
        content_range = handler.headers.get("Content-Range", "")
        length = int(handler.headers.get("Content-Length") or 0)
        if content_range.startswith("bytes */"):  # "how much do you have?"
            self._discard_body(handler)
            return self._upload_progress(blob)
        start = int(content_range.split(" ")[1].split("-")[0]) if content_range.startswith("bytes ") else 0
        if start > blob["received"]:
            self._discard_body(handler)
            return self._upload_progress(blob)
        fault = self.take_fault("PUT", blob["name"])
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.status:
            self._discard_body(handler, count=True)
            return fault.status, ({"Retry-After": fault.retry_after} if fault.retry_after else {})
        limit = fault.drop_after if fault and fault.drop_after is not None else None
        self._store(handler, token, blob, start, length, limit)
        if limit is not None and limit < length:
            raise _Reset()
        with self.lock:
            return (201, {}) if blob["received"] == blob["size"] else self._upload_progress(blob)

    def _upload_progress(self, blob: dict[str, Any]) -> tuple[int, dict[str, str]]:
        if blob["received"] == blob["size"]:
            return 200, {}
        return 308, ({"Range": f"bytes=0-{blob['received'] - 1}"} if blob["received"] else {})

    def _store(self, handler: _Handler, token: str, blob: dict[str, Any], start: int, length: int, limit: int | None) -> None:
        wanted = length if limit is None else min(limit, length)
        with open(self.root / "blobs" / token, "r+b") as out:
            out.seek(start)
            out.truncate()
            remaining = wanted
            while remaining:
                chunk = handler.rfile.read(min(remaining, 1 << 16))
                if not chunk:
                    break
                out.write(chunk)
                remaining -= len(chunk)
                with self.lock:
                    self.state["bytes_received"] += len(chunk)
                    blob["received"] = start + wanted - remaining
        with self.lock:
            self._save()

    def _discard_body(self, handler: _Handler, *, count: bool = False) -> None:
        remaining = int(handler.headers.get("Content-Length") or 0)
        while remaining:
            chunk = handler.rfile.read(min(remaining, 1 << 16))
            if not chunk:
                break
            remaining -= len(chunk)
            if count:
                with self.lock:
                    self.state["bytes_received"] += len(chunk)

    def output_file(self, owner: str, slug: str, name: str) -> bytes | None:
        path = (self.root / "kernels" / owner / slug / name).resolve()
        base = (self.root / "kernels").resolve()
        return path.read_bytes() if path.is_file() and base in path.parents else None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeKaggle/1"

    @property
    def fake(self) -> FakeKaggle:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        if os.environ.get("FAKE_KAGGLE_LOG"):
            sys.stderr.write("fake-kaggle: " + format % args + "\n")

    def _path(self) -> str:
        return urllib.parse.urlsplit(self.path).path  # through the proxy, self.path is an absolute URL

    def do_POST(self) -> None:
        match = re.fullmatch(r"/api/v1/([\w.]+)/(\w+)", self._path())
        length = int(self.headers.get("Content-Length") or 0)
        text = self.rfile.read(length).decode() if length else "{}"
        if not match:
            return self._json(404, {"code": 404, "message": "Not found"})
        method = match.group(2)
        with self.fake.lock:
            self.fake.calls.append(method)
        try:
            fault = self._fault_before(method, text)
            answer = self.fake.rpc(method, self.fake.user_for(self.headers.get("Authorization")), json.loads(text or "{}"), fault)
            if fault and fault.lost_answer:
                raise _injected(fault)
            self._json(200, answer)
        except Answer as answer:
            self._json(answer.status, answer.body, answer.headers)

    def _fault_before(self, method: str, text: str) -> Fault | None:
        """Apply the faults that strike before the work is done; return the fault for the rest."""
        fault = self.fake.take_fault(method, text)
        if fault is None:
            return None
        if fault.delay:
            time.sleep(fault.delay)
        if fault.status and not fault.lost_answer:
            raise _injected(fault)
        if fault.error:
            raise Answer(200, {"error": fault.error} if method == "SaveKernel" else {"status": "error", "error": fault.error})
        return fault

    def do_PUT(self) -> None:
        match = re.fullmatch(r"/upload/(\w+)", self._path())
        with self.fake.lock:
            self.fake.calls.append("PUT")
        if not match:
            self.fake._discard_body(self)
            return self._json(404, {"code": 404, "message": "Not found"})
        try:
            status, headers = self.fake.receive_upload(self, match.group(1))
        except _Reset:
            self._reset()
            return
        self._json(status, {}, headers)

    def do_GET(self) -> None:
        match = re.fullmatch(r"/kernel-output/([^/]+)/([^/]+)/(.+)", self._path())
        with self.fake.lock:
            self.fake.calls.append("GET")
        data = self.fake.output_file(*(urllib.parse.unquote(part) for part in match.groups())) if match else None
        fault = self.fake.take_fault("GET", self._path())
        if fault and fault.delay:
            time.sleep(fault.delay)
        if fault and fault.status:
            return self._json(fault.status, {"code": fault.status, "message": "injected"})
        if data is None:
            return self._json(404, {"code": 404, "message": "Not found"})
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        """Close with RST, as a dropped connection looks to the client."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


def _injected(fault: Fault) -> Answer:
    headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
    return Answer(fault.status or 500, {"code": fault.status or 500, "message": f"injected HTTP {fault.status}"}, headers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A fake Kaggle API for the official kaggle client (see the module docstring).")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--root", type=Path, required=True, help="folder for uploads and state (kept across restarts)")
    parser.add_argument("--user", required=True, help="the Kaggle user name the fake accepts")
    parser.add_argument("--key", required=True, help="that user's API key (Basic auth)")
    parser.add_argument("--token", help="also accept this bearer token (KAGGLE_API_TOKEN) for the user")
    parser.add_argument("--ready-after", type=int, default=1, help="status polls before a new dataset version is READY")
    parser.add_argument("--outputs", type=Path, help="a folder whose files every pushed kernel outputs")
    args = parser.parse_args(argv)
    fake = FakeKaggle(args.root, users={args.user: args.key}, tokens={args.token: args.user} if args.token else {}, port=args.port, ready_after=args.ready_after)
    if args.outputs:
        outputs = {p.relative_to(args.outputs).as_posix(): p.read_bytes() for p in sorted(args.outputs.rglob("*")) if p.is_file()}
        fake.kernel_runs = _DefaultRuns(lambda: KernelRun(outputs=outputs, log="[]"))
    print(fake.proxy_url, flush=True)
    env = " ".join(f"{k}={v}" for k, v in fake.client_env().items())
    print(f"point the kaggle client here with: {env} (and unset HTTPS_PROXY ALL_PROXY)", file=sys.stderr, flush=True)
    try:
        fake._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        fake._server.server_close()


class _DefaultRuns(dict):
    """kernel_runs for the standalone server: every kernel gets the same scripted run."""

    def __init__(self, make) -> None:  # noqa: ANN001 - a zero-argument factory
        super().__init__()
        self._make = make

    def get(self, key, default=None):  # noqa: ANN001, ANN201 - dict's signature
        return super().get(key) or self._make()


if __name__ == "__main__":
    main()
