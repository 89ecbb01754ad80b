"""Every setting in one place: name, default, help text and environment-variable override."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from curation import identity

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"


@dataclass(frozen=True)
class Setting:
    """One configurable value; the environment variable wins over the default."""

    name: str
    default: str
    help: str

    @property
    def env(self) -> str:
        return "INSTRUCT_CURATOR_" + self.name.upper()

    def get(self) -> str:
        return os.environ.get(self.env, self.default)


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in [
        Setting("db", str(DATA_DIR / "curator.duckdb"), "DuckDB file that holds every example."),
        Setting("runs_dir", str(DATA_DIR / "runs"), "Folder for fine-tune runs and job folders."),
        Setting("exports_dir", str(DATA_DIR / "exports"), "Folder for exports and snapshots."),
        Setting("snapshots_dir", str(DATA_DIR / "snapshots"), "Folder for versioned mixture snapshots."),
        Setting("cache_dir", str(DATA_DIR / "cache"), "Folder for model caches."),
        Setting(
            "model_cache_dir",
            "",
            "Folder for the float32 copy of the packaged SmolLM2 (built once, ~35 s); empty: inside cache_dir.",
        ),
        Setting("author", os.environ.get("USER", "user") or "user", "Name recorded on revisions."),
        Setting(
            "users_file",
            "",
            "YAML file of accounts (name, role, bcrypt password hash); empty turns login off (single user).",
        ),
        Setting("session_minutes", "480", "Minutes a login lasts before the user must sign in again."),
        Setting("cli_user", "", "Account the CLI acts as when a users file is set (or pass --user)."),
        Setting("max_field_bytes", str(1_000_000), "Largest text field an import accepts, in bytes."),
        Setting(
            "llm_endpoints",
            "",
            "With a users file: LLM endpoints curators may use, as KEY_VARIABLE=BASE_URL pairs separated by spaces "
            "(=URL: no key), besides those admins add with `endpoints add`.",
        ),
        Setting(
            "llm_max_response_mb",
            "4",
            "Largest answer an OpenAI-compatible server may send, in MB; a larger one fails that request.",
        ),
        Setting("seed_sample", "1", "Fill a new, empty default database with data/sample rows (1/0)."),
        Setting(
            "embedding_model",
            "",
            "Local sentence-transformers folder; empty uses the packaged all-MiniLM-L6-v2.",
        ),
        Setting(
            "embedding_backend",
            "auto",
            "Embedding runtime: auto (CUDA fp16 on a GPU, else OpenVINO bf16 on a CPU with bf16 units, else ONNX "
            "Runtime fp32), openvino-bf16, onnx, onnx-int8, torch, cuda-fp16.",
        ),
        Setting(
            "embedding_search",
            "auto",
            "Cosine search: auto (exact up to 100,000 rows, index candidates + exact re-scoring above), exact, index.",
        ),
        Setting(
            "ray_address",
            "",
            "Run dedup's parallel stages on Ray: 'local' (this machine) or a cluster address; empty: in process.",
        ),
    ]
}


def get(name: str) -> str:
    """Current value of a setting (environment override or default); `author` is the signed-in user if any."""
    if name == "author":
        user = identity.current()
        if user is not None:
            return user.name
    return SETTINGS[name].get()


@contextlib.contextmanager
def overridden(values: dict[str, str | None]) -> Iterator[None]:
    """Settings set for the duration of a block (e.g. from CLI options); None leaves a setting as it is."""
    saved = {name: os.environ.get(SETTINGS[name].env) for name in values}
    try:
        for name, value in values.items():
            if value is not None:
                os.environ[SETTINGS[name].env] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(SETTINGS[name].env, None)
            else:
                os.environ[SETTINGS[name].env] = value


def get_path(name: str) -> Path:
    """A setting that names a file or folder."""
    return Path(get(name)).expanduser()


def snapshot() -> dict[str, str]:
    """All current values, for writing into run folders and manifests."""
    return {name: s.get() for name, s in SETTINGS.items()}
