"""The README names only things that exist: config keys, files, tests, make targets, rules, studies,
strategies, options; and its generated option table matches the method declarations."""

from __future__ import annotations

import dataclasses
import fnmatch
import re
from pathlib import Path

import yaml

from fal.config import STRATEGY_FL_UPDATES, FidelityConfig
from fal.config.methods import METHODS, options_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())
TICKED = set(re.findall(r"`([^`\n]+)`", README))
GENERATED = {"gpu_check.json", "gpu_check.md"}
"""Files the README names that a command writes (not part of the repository)."""
CONFIG_SECTIONS = ("protocol", "fidelity", "runtime", "paths", "data", "analysis", "studies", "strategies")


def schema_has(path: list[str]) -> bool:
    """Whether ``path`` (config keys) exists in the JSON schema (following $ref, oneOf and open maps)."""
    node = SCHEMA
    for part in path:
        while "$ref" in node:
            node = SCHEMA["$defs"][node["$ref"].split("/")[-1]]
        branches = [node, *node.get("oneOf", []), *node.get("anyOf", [])]
        found = None
        for branch in branches:
            while "$ref" in branch:
                branch = SCHEMA["$defs"][branch["$ref"].split("/")[-1]]
            if part in branch.get("properties", {}):
                found = branch["properties"][part]
            elif isinstance(branch.get("additionalProperties"), dict):
                found = branch["additionalProperties"]
            if found is not None:
                break
        if found is None:
            return False
        node = found
    return True


def test_config_keys_named_in_the_readme_exist():
    keys = [t for t in TICKED if re.fullmatch(r"[a-z_]+(\.[a-z_0-9]+)+", t) and t.split(".")[0] in CONFIG_SECTIONS]
    assert len(keys) >= 10
    modules = [key for key in keys if (ROOT / "fal" / Path(*key.split("."))).with_suffix(".py").exists()]
    missing = [key for key in keys if key not in modules and not schema_has(key.split("."))]
    assert not missing, missing


def test_files_named_in_the_readme_exist():
    paths = [
        t.split()[0]
        for t in TICKED
        if re.fullmatch(r"[\w./-]+/[\w./-]*|[\w-]+\.(py|yaml|toml|smk|md|csv)", t.split()[0] if t.split() else "")
        and "<" not in t
        and not t.startswith(
            ("results/", "reports/", "data/", "/", "../", ".venv", "http", ".snakemake/", "init/", "shared/")
        )
        and t not in GENERATED
    ]
    assert len(paths) >= 20
    tracked = {str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if ".venv" not in p.parts and ".git" not in p.parts}
    names = {Path(p).name for p in tracked}
    missing = [p for p in paths if p.rstrip("/") not in tracked and f"tests/{p}" not in tracked and p not in names]
    assert not missing, missing


def test_make_targets_rules_and_studies_named_in_the_readme_exist():
    makefile = (ROOT / "Makefile").read_text()
    for target in set(re.findall(r"(?:`|^)make ([a-z][a-z-]*)", README, re.M)):
        assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"make {target}"
    rules = set()
    for smk in (ROOT / "workflow/rules").glob("*.smk"):
        rules |= set(re.findall(r"^rule (\w+):", smk.read_text(), re.M))
        rules |= set(re.findall(r"^use rule \w+ as (\w+)", smk.read_text(), re.M))
    table_rules = re.findall(r"^\| `(\w+)` \| `", README.split("## What runs")[1].split("##")[0], re.M)
    assert table_rules and set(table_rules) <= rules, set(table_rules) - rules
    defined = re.search(r"Defined studies: (.*?)\n\n", README, re.S).group(1)
    for study in re.findall(r"`(\w+)`", defined):
        assert study in CONFIG["studies"], study


def test_strategies_named_in_the_strategy_table_exist():
    section = README.split("## Strategies")[1].split("###")[0]
    names = [n for row in re.findall(r"^\| (.*?) \|", section, re.M) for n in re.findall(r"`([\w*]+)`", row)]
    assert len(names) > 20
    for name in names:
        assert fnmatch.filter(CONFIG["strategies"], name), name


def test_generated_option_table_matches_the_declarations():
    begin = README.index("<!-- method-options:begin")
    table = README[README.index("\n", begin) + 1 : README.index("<!-- method-options:end -->")].strip()
    assert table == options_markdown(), "regenerate with `python -m fal.config.methods`"


def test_hand_written_option_tables_match_the_declarations():
    fairfal = README.split("### FairFAL's options")[1].split("###")[0]
    rows = re.findall(r"^\| `(\w+)` \| `?([\w.]+)`? \|", fairfal, re.M)
    defaults = METHODS["fairfal"].defaults
    assert {name for name, _ in rows} == set(defaults)
    for name, default in rows:
        assert str(defaults[name]) == default or float(defaults[name]) == float(default), name
    kcfu = README.split("### KAFAL's federated update (KCFU)")[1].split("###")[0]
    for name in re.findall(r"^\| `(\w+)` \|", kcfu, re.M):
        assert name in STRATEGY_FL_UPDATES["kcfu"], name
    fidelity = README.split("## Fidelity")[1].split("\n## ")[0]
    switches = {f.name for f in dataclasses.fields(FidelityConfig)}
    for name in re.findall(r"^\| `(\w+)` \|", fidelity, re.M):
        assert name in switches, name


def test_paper_catalog_matches_config():
    from fal.config import resolve_study
    from fal.config.docs import paper_catalog

    begin = README.index("<!-- paper-catalog:begin")
    table = README[README.index("\n", begin) + 1 : README.index("<!-- paper-catalog:end -->")].strip()
    expected = paper_catalog({name: resolve_study(CONFIG, name) for name in CONFIG["studies"]})
    assert table == expected, "regenerate with `python -m fal.config.docs`"
