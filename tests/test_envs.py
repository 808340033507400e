"""Conda environments: every rule's ``conda:`` file exists, parses, and pins what pyproject.toml pins.

``--use-conda`` cannot run here (no conda channels), so these checks stand in for it.
"""

import re
from pathlib import Path

import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]


def pyproject_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for requirement in project["dependencies"]:
        name, version = requirement.split("==")
        pins[name.lower()] = version
    return pins


def rule_blocks():
    for smk in sorted((ROOT / "workflow/rules").glob("*.smk")):
        text = smk.read_text()
        for match in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)+)", text, re.M):
            yield smk, match.group(1), match.group(2)


def test_every_rule_has_conda_and_log():
    rules = list(rule_blocks())
    assert len(rules) >= 8
    for smk, name, body in rules:
        assert re.search(r"^\s+conda:\s*\n\s+\"([^\"]+)\"", body, re.M), f"{smk.name}: rule {name} has no conda:"
        assert re.search(r"^\s+log:", body, re.M), f"{smk.name}: rule {name} has no log:"
        assert re.search(r"^\s+benchmark:", body, re.M), f"{smk.name}: rule {name} has no benchmark:"


CONDA_PATH = re.compile(r"^\s+conda:\s*\n\s+\"([^\"]+)\"", re.M)
ENV_KEYS = {"name", "channels", "dependencies", "variables", "prefix"}
CONDA_SPEC = re.compile(r"^[A-Za-z0-9_.\-]+(?:\s*(?:==?|>=|<=|>|<|!=)\s*[\w.*+!]+)?$")


def conda_env_paths() -> dict[Path, list[str]]:
    """Env file -> the rules that use it (paths resolved relative to the .smk file, as Snakemake does)."""
    used: dict[Path, list[str]] = {}
    for smk, name, body in rule_blocks():
        relpath = CONDA_PATH.search(body).group(1)
        assert not Path(relpath).is_absolute(), f"rule {name}: conda path {relpath} must be relative"
        used.setdefault((smk.parent / relpath).resolve(), []).append(name)
    return used


def test_every_conda_path_exists_and_every_env_file_is_used():
    used = conda_env_paths()
    for path, rules in used.items():
        assert path.is_file(), f"rules {rules}: conda env {path} does not exist"
        assert path.parent == (ROOT / "envs").resolve(), f"{path} is outside envs/"
    unused = set((ROOT / "envs").resolve().glob("*.yaml")) - set(used)
    assert not unused, f"env files no rule uses: {sorted(p.name for p in unused)}"


def parse_env(path: Path) -> tuple[list[str], dict[str, str]]:
    """Check the file's structure as conda reads it; return its conda specs and its pip pins."""
    env = yaml.safe_load(path.read_text())
    assert isinstance(env, dict) and set(env) <= ENV_KEYS, f"{path.name}: keys {set(env)} beyond {ENV_KEYS}"
    assert (
        isinstance(env.get("channels"), list) and env["channels"] and all(isinstance(c, str) for c in env["channels"])
    )
    deps = env.get("dependencies")
    assert isinstance(deps, list) and deps, f"{path.name}: dependencies must be a non-empty list"
    specs, pips = [], []
    for dep in deps:
        if isinstance(dep, dict):
            assert set(dep) == {"pip"} and isinstance(dep["pip"], list), f"{path.name}: unexpected entry {dep}"
            pips += dep["pip"]
        else:
            assert isinstance(dep, str) and CONDA_SPEC.match(dep), f"{path.name}: not a conda spec: {dep!r}"
            specs.append(dep)
    if pips:
        assert "pip" in specs, f"{path.name}: a pip section needs `pip` among the conda dependencies"
    pins = {}
    for requirement in pips:
        name, sep, version = requirement.partition("==")
        assert sep and version, f"{path.name}: {requirement!r} is not pinned with =="
        pins[name.lower()] = version
    return specs, pins


def test_conda_envs_parse_and_pin_pyproject_versions():
    pins = pyproject_pins()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    minimum = tuple(int(x) for x in requires.removeprefix(">=").split("."))
    for path in conda_env_paths():
        specs, env_pins = parse_env(path)
        assert env_pins == pins, f"{path.name} pins {env_pins}, pyproject.toml pins {pins}"
        python = [s for s in specs if s.startswith("python=")]
        assert len(python) == 1, f"{path.name}: pin python once, e.g. python=3.11"
        assert tuple(int(x) for x in python[0].split("=")[-1].split(".")[:2]) >= minimum


def test_env_check_rejects_a_drifted_pin(tmp_path):
    """The pin comparison bites: an env that pins another torch than pyproject.toml fails it."""
    env = yaml.safe_load((ROOT / "envs/fal.yaml").read_text())
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    pip[:] = [r if not r.startswith("torch==") else "torch==0.0.1" for r in pip]
    drifted = tmp_path / "drifted.yaml"
    drifted.write_text(yaml.safe_dump(env))
    _, env_pins = parse_env(drifted)
    assert env_pins != pyproject_pins() and env_pins["torch"] == "0.0.1"
