"""Deployment files: `docker compose config` where Compose exists, and structural checks of
the compose files and Dockerfiles that always run (PyYAML, no Docker engine needed)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_CPU = ROOT / "docker-compose.cpu.yml"
DOCKERFILES = [ROOT / "Dockerfile", ROOT / "docker" / "Dockerfile.gpu"]
LOCAL_DB_PASSWORD = "trainforge-local-only"  # the documented local-only default


# ---- `docker compose config` (skips without a Compose client) ----

def _compose_command() -> tuple[list[str], tuple[int, ...]] | None:
    """The Compose client and its version, or None when there is none."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        try:
            out = subprocess.run([*command, "version", "--short"], capture_output=True,
                                 text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if out.returncode == 0:
            match = re.search(r"(\d+)\.(\d+)\.(\d+)", out.stdout)
            version = tuple(int(x) for x in match.groups()) if match else (0, 0, 0)
            return command, version
    return None


def _compose_config(command: list[str], *files: Path) -> subprocess.CompletedProcess:
    args = [arg for f in files for arg in ("-f", str(f))]
    return subprocess.run([*command, *args, "config", "-q"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture(scope="module")
def compose() -> tuple[list[str], tuple[int, ...]]:
    found = _compose_command()
    if found is None:
        pytest.skip("no Docker Compose client (`docker compose version` and "
                    "`docker-compose version` both fail)")
    return found


def test_compose_config_is_valid(compose):
    command, _version = compose
    result = _compose_config(command, COMPOSE)
    assert result.returncode == 0, result.stderr


def test_compose_cpu_override_is_valid(compose):
    command, version = compose
    if version < (2, 24, 4):
        pytest.skip(f"Compose {'.'.join(map(str, version))} predates the `!reset` tag "
                    "(2.24.4) that docker-compose.cpu.yml uses")
    result = _compose_config(command, COMPOSE, COMPOSE_CPU)
    assert result.returncode == 0, result.stderr


# ---- structural checks (always run) ----

yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")


class _ComposeLoader(yaml.SafeLoader):
    """Safe YAML plus Compose's merge tags: `!reset` drops a value, `!override` keeps it."""


_ComposeLoader.add_constructor("!reset", lambda loader, node: _RESET)
_ComposeLoader.add_constructor(
    "!override", lambda loader, node: loader.construct_object(node, deep=True))
_RESET = object()


def _load(path: Path) -> dict:
    return yaml.load(path.read_text(), Loader=_ComposeLoader)


def _merge(base: dict, override: dict) -> dict:
    """Compose's merge of mappings (enough for these files: no sequences are merged)."""
    merged = dict(base)
    for key, value in override.items():
        if value is _RESET:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.fixture(scope="module")
def services() -> dict:
    return _load(COMPOSE)["services"]


@pytest.fixture(scope="module")
def cpu_services(services) -> dict:
    return _merge({"services": services}, _load(COMPOSE_CPU))["services"]


def _gpu_devices(service: dict) -> list:
    return (service.get("deploy") or {}).get("resources", {}).get(
        "reservations", {}).get("devices", [])


def test_services_present(services):
    assert {"db", "migrate", "api", "worker"} <= set(services)
    assert services["db"]["image"].startswith("postgres:16")
    assert any("/var/lib/postgresql/data" in v for v in services["db"]["volumes"])
    assert "pgdata" in _load(COMPOSE)["volumes"]


def test_healthchecks(services):
    assert "pg_isready" in str(services["db"]["healthcheck"]["test"])
    assert "/healthz" in str(services["api"]["healthcheck"]["test"])
    assert "healthcheck.py" in str(services["worker"]["healthcheck"]["test"])


def test_startup_order(services):
    assert services["migrate"]["command"] == ["trainforge", "migrate"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("api", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name


def test_api_serves_without_in_process_workers(services):
    command = services["api"]["command"]
    assert command[:2] == ["trainforge", "serve"]
    assert command[command.index("--workers") + 1] == "0"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert any(str(p).endswith(":8000") for p in services["api"]["ports"])


def test_worker_reserves_gpus_and_can_scale(services):
    worker = services["worker"]
    assert worker["build"]["dockerfile"] == "docker/Dockerfile.gpu"
    devices = _gpu_devices(worker)
    assert devices and devices[0]["driver"] == "nvidia"
    assert devices[0]["capabilities"] == ["gpu"]
    assert "count" in devices[0] or "device_ids" in devices[0]
    # Scalable with `--scale`: no fixed name, no host ports.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["stop_grace_period"]  # time to checkpoint on SIGTERM


def test_cpu_override_swaps_the_worker(cpu_services):
    worker = cpu_services["worker"]
    assert worker["build"]["dockerfile"] == "Dockerfile"
    assert worker["command"] == ["trainforge", "worker", "--device", "cpu"]
    assert not _gpu_devices(worker)
    assert "container_name" not in worker and "ports" not in worker
    assert {"db", "migrate", "api"} <= set(cpu_services)


def test_no_secrets_in_compose_files(services):
    for path in (COMPOSE, COMPOSE_CPU):
        text = path.read_text()
        # Every password is the documented local-only default behind a variable.
        for match in re.finditer(r"(?im)^\s*\w*password\w*\s*:\s*(\S+)", text):
            assert match.group(1) == f"${{POSTGRES_PASSWORD:-{LOCAL_DB_PASSWORD}}}", match[0]
        for match in re.finditer(r"://[^:@/\s]+:([^@\s]+)@", text):
            assert match.group(1) == f"${{POSTGRES_PASSWORD:-{LOCAL_DB_PASSWORD}}}", match[0]
    token = services["api"]["environment"]["TRAINFORGE_ADMIN_TOKEN"]
    assert re.fullmatch(r"\$\{TRAINFORGE_ADMIN_TOKEN(:?[-?][^}]*)?\}", token), token
    assert token in ("${TRAINFORGE_ADMIN_TOKEN:-}", "${TRAINFORGE_ADMIN_TOKEN}") or "?" in token
    for service in services.values():
        env = service.get("environment") or {}
        assert not any("ADMIN_TOKEN" in k and "${" not in str(v) for k, v in env.items())


# ---- Dockerfiles ----

def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        current += " " + line[:-1] if line.endswith("\\") else " " + line
        if not line.endswith("\\"):
            lines.append(current.strip())
            current = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_is_multi_stage_non_root_with_healthcheck(path):
    instructions = _instructions(path)
    assert sum(1 for name, _ in instructions if name == "FROM") >= 2
    users = [args for name, args in instructions if name == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(name == "HEALTHCHECK" and "CMD" in args for name, args in instructions)
    # The final stage copies the venv from the builder and needs the migrations.
    final = instructions[max(i for i, (n, _) in enumerate(instructions) if n == "FROM"):]
    assert any(n == "COPY" and "--from=builder" in a and "/opt/venv" in a for n, a in final)
    assert any(n == "COPY" and a.startswith("migrations") for n, a in final)
    assert any(n == "WORKDIR" for n, _ in final)
    for name, args in instructions:
        if name == "RUN" and "pip install" in args:
            assert "--no-cache-dir" in args, args
        assert not re.search(r"(?i)(ADMIN_TOKEN|PASSWORD)\s*=", args), args
        if name == "RUN" and "apt-get install" in args:
            assert "--no-install-recommends" in args and "rm -rf /var/lib/apt/lists" in args


def test_cpu_image_runs_the_api_and_cpu_workers():
    instructions = _instructions(ROOT / "Dockerfile")
    assert instructions[0][1].startswith("PYTHON_IMAGE=python:3.11-slim")
    cmd = [a for n, a in instructions if n == "CMD"][-1]
    assert '"serve"' in cmd and '"--workers", "0"' in cmd and '"0.0.0.0"' in cmd
    healthcheck = [a for n, a in instructions if n == "HEALTHCHECK"][-1]
    assert "/healthz" in healthcheck and "urllib" in healthcheck
    final = instructions[max(i for i, (n, _) in enumerate(instructions) if n == "FROM"):]
    assert not any(n == "RUN" and re.search(r"\b(gcc|build-essential)\b", a)
                   for n, a in final)


def test_gpu_image_installs_cuda12_and_runs_a_cuda_worker():
    path = ROOT / "docker" / "Dockerfile.gpu"
    instructions = _instructions(path)
    assert re.search(r"nvidia/cuda:12\.[\d.]+-runtime", instructions[0][1])
    assert "cuda12" in path.read_text()
    cmd = [a for n, a in instructions if n == "CMD"][-1]
    assert '"worker"' in cmd and '"cuda"' in cmd


def test_dockerignore_keeps_the_build_context_small():
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "*.db", "tests"} <= ignored
    for needed in ("app", "engine", "migrations", "alembic.ini", "pyproject.toml",
                   "README.md", "docker"):
        assert needed not in ignored


def test_helper_scripts_exist():
    for name in ("healthcheck.py", "gpu_workers.py"):
        assert (ROOT / "docker" / name).is_file()
