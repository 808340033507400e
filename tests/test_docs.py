"""The README and every document name only things that exist: config keys, files, tests, make targets,
rules, studies, strategies, options and links; their generated blocks equal what the declarations give."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from fal.config.fidelity import FidelityConfig
from fal.config.protocol import LocalModelConfig, ProtocolConfig
from fal.plan.catalog import ALGORITHMS, METHODS
from fal.plan.docs import regenerate

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCS = {
    path.relative_to(ROOT).as_posix(): path.read_text()
    for path in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
}
SPEC = "docs/reference-spec.md"
"""The description of the official code: it names the official repositories' files, not ours."""
CHECKED = {name: text for name, text in DOCS.items() if name != SPEC}
SCHEMA = yaml.safe_load((ROOT / "workflow/schemas/config.schema.yaml").read_text())
CONFIG = yaml.safe_load((ROOT / "config.yaml").read_text())
GENERATED = {"gpu_check.json", "gpu_check.md"}
"""Files the docs name that a command writes (not part of the repository)."""
RECIPE_EXAMPLES = {
    "fal/strategies/methods/logit_norm.py",
    "fal/federated/algorithms/fedavg_uniform.py",
    "fal/data/sources/kmnist.py",
    "fal/stats/papers/ifal.py",
}
"""The modules CONTRIBUTING.md's recipes create (examples, not part of the repository)."""
CONFIG_SECTIONS = ("protocol", "fidelity", "runtime", "paths", "data", "analysis", "studies", "strategies")


def ticked(text: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", text))


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


def test_readme_is_a_short_entry_point():
    assert len(README.encode()) <= 8192, "keep the README to what a newcomer needs first; the rest goes to docs/"
    first_block = README.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split()[:2] for line in first_block] == [["make", "run"], ["make", "test"]]
    for name in DOCS:
        if name != "README.md":
            assert f"({name})" in README, f"the README links {name}"


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_config_keys_named_exist(name):
    keys = [
        t
        for t in ticked(CHECKED[name])
        if re.fullmatch(r"[a-z_]+(\.[a-z_0-9]+)+", t) and t.split(".")[0] in CONFIG_SECTIONS
    ]
    modules = [key for key in keys if (ROOT / "fal" / Path(*key.split("."))).with_suffix(".py").exists()]
    missing = [key for key in keys if key not in modules and not schema_has(key.split("."))]
    assert not missing, missing


def tracked_files() -> set[str]:
    skip = {".venv", ".git", "results", "data", ".snakemake"}  # top-level run outputs and tools
    return {str(p.relative_to(ROOT)) for p in ROOT.rglob("*") if p.relative_to(ROOT).parts[0] not in skip}


TRACKED = tracked_files()


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_files_named_exist(name):
    paths = [
        t.split()[0]
        for t in ticked(CHECKED[name])
        if re.fullmatch(r"[\w./-]+/[\w./-]*|[\w-]+\.(py|yaml|toml|smk|md|csv)", t.split()[0] if t.split() else "")
        and "<" not in t
        and not t.startswith(
            ("results/", "reports/", "logs/", "data/", "/", "../", ".venv", "http", ".snakemake/", "init/", "shared/")
        )
        and t not in GENERATED | RECIPE_EXAMPLES
    ]
    names = {Path(p).name for p in TRACKED}
    missing = [p for p in paths if p.rstrip("/") not in TRACKED and f"tests/{p}" not in TRACKED and p not in names]
    assert not missing, missing


def test_the_recipes_name_their_example_modules():
    """The files the docs-name check leaves out as recipe examples are the ones CONTRIBUTING.md creates
    (a contributor who follows a recipe adds one; tests/workflow/test_code_identity.py follows each)."""
    for example in RECIPE_EXAMPLES:
        assert f"`{example}`" in DOCS["CONTRIBUTING.md"], example


def slug(heading: str) -> str:
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


@pytest.mark.parametrize("name", sorted(DOCS))
def test_relative_links_resolve(name):
    for target in re.findall(r"\]\(([^)\s]+)\)", DOCS[name]):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        path, _, anchor = target.partition("#")
        resolved = (ROOT / name).parent / path if path else ROOT / name
        assert resolved.exists(), f"{name}: link to {target}"
        if anchor and resolved.suffix == ".md":
            headings = re.findall(r"^#+ (.*)$", resolved.read_text(), re.M)
            assert anchor in {slug(h) for h in headings}, f"{name}: no heading for #{anchor} in {path or name}"


def test_make_targets_rules_and_studies_named_exist():
    makefile = (ROOT / "Makefile").read_text()
    for name, text in CHECKED.items():
        for target in set(re.findall(r"(?:`|^)make ([a-z][a-z-]*)", text, re.M)):
            assert re.search(rf"^{re.escape(target)}:", makefile, re.M), f"{name}: make {target}"
    rules = set()
    for smk in (ROOT / "workflow/rules").glob("*.smk"):
        rules |= set(re.findall(r"^rule (\w+):", smk.read_text(), re.M))
        rules |= set(re.findall(r"^use rule \w+ as (\w+)", smk.read_text(), re.M))
    running = DOCS["docs/running.md"]
    table_rules = re.findall(r"^\| `(\w+)` \| `", running.split("## What runs")[1].split("##")[0], re.M)
    assert table_rules and set(table_rules) <= rules, set(table_rules) - rules
    defined = re.search(r"Defined studies: (.*?)\n\n", running, re.S).group(1)
    for study in re.findall(r"`(\w+)`", defined):
        assert study in CONFIG["studies"], study


def test_the_strategy_table_lists_every_method_and_strategy():
    """docs/methods.md's table is generated from the declarations and config.yaml: a new method or
    strategy appears there once `make docs` ran (test_generated_blocks_are_up_to_date fails before)."""
    section = DOCS["docs/methods.md"].split("## Strategies")[1].split("\n## ")[0]
    for name in METHODS:
        assert f"| `{name}` |" in section, name
    for name in CONFIG["strategies"]:
        assert f"`{name}`" in section, name


def test_generated_blocks_are_up_to_date():
    assert regenerate(ROOT, check=True) == [], "run `python -m fal.plan.docs`"


def test_hand_written_option_tables_match_the_declarations():
    methods = DOCS["docs/methods.md"]
    fairfal = methods.split("## FairFAL's options")[1].split("##")[0]
    rows = re.findall(r"^\| `(\w+)` \| `?([\w.]+)`? \|", fairfal, re.M)
    defaults = METHODS["fairfal"].defaults
    assert {name for name, _ in rows} == set(defaults)
    for name, default in rows:
        assert str(defaults[name]) == default or float(defaults[name]) == float(default), name
    kcfu = methods.split("## KAFAL's federated update (KCFU)")[1].split("##")[0]
    for name in re.findall(r"^\| `kcfu` \| `(\w+)` \|", kcfu, re.M):
        assert name in ALGORITHMS["kcfu"].defaults, name
    fidelity = methods.split("## Fidelity")[1].split("\n## ")[0]
    switches = {f.name for f in dataclasses.fields(FidelityConfig)}
    named = set(re.findall(r"^\| `(\w+)` \|", fidelity, re.M))
    assert named == switches - {"preset"}, named ^ (switches - {"preset"})


def test_configuration_reference_covers_every_key():
    reference = ticked(DOCS["docs/configuration.md"])
    text = DOCS["docs/configuration.md"]
    for section in SCHEMA["properties"]:
        assert f"## `{section}`" in text or f"`{section}`" in reference, section
    for key in SCHEMA["properties"]["paths"]["properties"]:
        assert f"paths.{key}" in text, key
    for field in dataclasses.fields(ProtocolConfig):
        assert f"protocol.{field.name}" in text, field.name
    for field in dataclasses.fields(LocalModelConfig):
        assert f"protocol.local_model.{field.name}" in text, field.name
    for key in SCHEMA["properties"]["runtime"]["properties"]:
        assert f"runtime.{key}" in text, key
    for key in SCHEMA["$defs"]["study"]["properties"]:
        assert f"`{key}`" in text, key


def test_every_declared_option_is_in_the_docs_and_the_schema():
    """An option is declared once (its method's METHOD, an update's ALGORITHM, a fidelity switch's field):
    the docs' generated tables and the schema's generated blocks show every one (and tests/test_params.py
    checks that each reaches the params of the jobs that read it)."""
    from fal.config.fidelity import SWITCHES
    from fal.plan.catalog import strategy_updates

    methods = DOCS["docs/methods.md"]
    for name, info in METHODS.items():
        for option in info.options:
            assert f"| `{name}` | `{option.name}` |" in methods, (name, option.name)
    federated = SCHEMA["$defs"]["federated"]["properties"]
    for name in strategy_updates():
        for option in ALGORITHMS[name].options:
            assert f"| `{name}` | `{option.name}` |" in methods, (name, option.name)
            assert federated[option.name] == option.json_schema(), option.name
    fidelity = SCHEMA["$defs"]["fidelity"]["oneOf"][1]["properties"]
    for name in SWITCHES:
        assert f"| `{name}` |" in methods and name in fidelity, name
    # a method's options are checked against its declaration when the configuration is read (with close
    # matches and the allowed values); the schema leaves them to it rather than repeating them
    strategy = SCHEMA["properties"]["strategies"]["additionalProperties"]["properties"]
    assert strategy["options"] == {"type": "object"}
