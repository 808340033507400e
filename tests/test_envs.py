"""Conda environments: every rule's ``conda:`` file exists, parses, and pins what pyproject.toml pins.

``--use-conda`` cannot run here (no conda channels), so these checks stand in for it.
"""

import re
import tomllib
from pathlib import Path

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


def test_conda_files_exist_parse_and_pin_pyproject_versions():
    pins = pyproject_pins()
    seen = set()
    for smk, name, body in rule_blocks():
        path = (smk.parent / re.search(r"^\s+conda:\s*\n\s+\"([^\"]+)\"", body, re.M).group(1)).resolve()
        assert path.exists(), f"rule {name}: conda env {path} does not exist"
        seen.add(path)
    for path in seen:
        env = yaml.safe_load(path.read_text())
        assert env["channels"] and isinstance(env["dependencies"], list)
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
        env_pins = {r.split("==")[0].lower(): r.split("==")[1] for r in pip}
        assert env_pins == pins, f"{path.name} pins {env_pins}, pyproject.toml pins {pins}"
        assert any(str(d).startswith("python=") for d in env["dependencies"])
