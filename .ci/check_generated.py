"""Generate clients with openapi-generator and fail on what an app developer would trip over.

    python .ci/check_generated.py [--spec openapi/openapi.json] [--out DIR] [--generators ...]

For each generator (kotlin, dart, typescript-fetch by default) the client is generated from the
spec, then three kinds of defect are looked for, in the generator's log and in the models it
wrote:

- rename: a schema whose name the language reserves, renamed by the generator (its log says
  "Renamed to ModelRecord"; a model file `ModelX` that is no schema of the spec).
- inline: a model named by the generator, not by the spec: "Inline schema created as X" in
  the log, a model whose name is no component schema (a field's `title` such as `Active`,
  `Rate`, `Value`, or `ItemsInner`), or a component schema FastAPI named itself
  (`Body_createToken`).
- empty: a model class with no properties (a union of scalars flattened into nothing) that is
  not an intentional empty object (a component schema of type object without properties).

Exit status 1 when anything is found, with one line per defect and the generators that showed
it; 2 when a generator could not run at all."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

GENERATORS = ("kotlin", "dart", "typescript-fetch")

# Where each generator writes its models, and how it spells an empty one.
MODEL_GLOBS = {
    "kotlin": "src/main/kotlin/**/models/*.kt",
    "dart": "lib/model/*.dart",
    "typescript-fetch": "models/*.ts",
}
EMPTY_PATTERNS = {
    "kotlin": re.compile(r"^\s*(?:data\s+)?class\s+(\w+)\s*\(\s*\)", re.M),
    "dart": re.compile(r"^\s*(\w+)\(\{\s*\}\);", re.M),
    "typescript-fetch": re.compile(r"^export interface (\w+)\s*\{\s*\}", re.M),
}
NOT_MODELS = {"index"}
RENAMED = re.compile(r"(?:Renamed to|renamed to)\s+`?(\w+)`?")
RENAME_FROM = re.compile(r"\b(\w+) \([^)]*\) cannot be used as (?:a )?model name")
INLINE = re.compile(r"Inline schema created as (\w+)")
# Component schemas FastAPI names itself (form and multipart bodies).
AUTO_COMPONENT = re.compile(r"^Body_")


@dataclass(frozen=True)
class Finding:
    kind: str  # rename | inline | empty | generator
    name: str
    detail: str = ""


@dataclass
class Report:
    found: dict[Finding, set[str]] = field(default_factory=dict)
    _keys: dict[tuple[str, str], Finding] = field(default_factory=dict)

    def add(self, finding: Finding, generator: str) -> None:
        """One line per defect and name, whichever generator or source showed it first."""
        key = (finding.kind, _norm(finding.name))
        first = self._keys.setdefault(key, finding)
        self.found.setdefault(first, set()).add(generator)

    @property
    def ok(self) -> bool:
        return not self.found

    def kinds(self) -> set[str]:
        return {f.kind for f in self.found}

    def names(self, kind: str) -> set[str]:
        return {f.name for f in self.found if f.kind == kind}

    def lines(self) -> list[str]:
        out = []
        order = {"generator": 0, "rename": 1, "inline": 2, "empty": 3}
        for f, gens in sorted(self.found.items(), key=lambda x: (order[x[0].kind], x[0].name)):
            extra = f" ({f.detail})" if f.detail else ""
            out.append(f"{f.kind:<7} {f.name}{extra}  [{', '.join(sorted(gens))}]")
        return out


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _components(spec: dict) -> dict[str, dict]:
    return dict(spec.get("components", {}).get("schemas", {}))


def _intentional_empty(schemas: dict[str, dict]) -> set[str]:
    """Component schemas that are meant to have no properties: objects without members."""
    out = set()
    for name, schema in schemas.items():
        if schema.get("type") == "object" and not schema.get("properties"):
            if not any(k in schema for k in ("anyOf", "oneOf", "allOf", "enum")):
                out.add(_norm(name))
    return out


def java_available() -> bool:
    return shutil.which("java") is not None


def generator_command() -> list[str]:
    """openapi-generator-cli beside this interpreter (pip's package ships the jar), else PATH's."""
    beside = Path(sys.executable).parent / "openapi-generator-cli"
    exe = str(beside) if beside.exists() else shutil.which("openapi-generator-cli")
    if exe is None:
        raise FileNotFoundError("openapi-generator-cli is not installed (pip install it)")
    return [exe]


def generate(spec: Path, out: Path, generators: Sequence[str]) -> dict[str, tuple[int, str]]:
    """Run the generators side by side; answer each one's exit status and log."""
    procs = {}
    for gen in generators:
        target = out / gen
        shutil.rmtree(target, ignore_errors=True)
        cmd = [*generator_command(), "generate", "-g", gen, "-i", str(spec), "-o", str(target)]
        # Models only matter here: no API docs or tests (faster, less to look through).
        skip = "apiDocs=false,modelDocs=false,apiTests=false,modelTests=false"
        cmd += ["--global-property", skip]
        log = (out / f"{gen}.log").open("w")
        procs[gen] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)  # noqa: S603
    results = {}
    for gen, (proc, log) in procs.items():
        rc = proc.wait(timeout=600)
        log.close()
        results[gen] = (rc, (out / f"{gen}.log").read_text(errors="replace"))
    return results


def _model_files(root: Path, generator: str) -> Iterable[Path]:
    for path in sorted(root.glob(MODEL_GLOBS[generator])):
        if path.stem not in NOT_MODELS:
            yield path


def analyse(spec: dict, generator: str, root: Path, log: str, report: Report) -> None:
    """Look through one generator's log and models; add what is wrong to `report`."""
    schemas = _components(spec)
    known = {_norm(n) for n in schemas}
    empty_ok = _intentional_empty(schemas)

    renamed = set()
    for line in log.splitlines():
        m = RENAMED.search(line)
        if m and ("model name" in line or "reserved" in line):
            src = RENAME_FROM.search(line)
            detail = f"from {src.group(1)}" if src else ""
            renamed.add(_norm(m.group(1)))
            report.add(Finding("rename", m.group(1), detail), generator)
        m = INLINE.search(line)
        if m:
            report.add(Finding("inline", _camel(m.group(1)), "an inline schema"), generator)

    for name in schemas:
        if AUTO_COMPONENT.search(name):
            report.add(Finding("inline", name, "named by FastAPI, not the spec"), generator)

    for path in _model_files(root, generator):
        text = path.read_text(errors="replace")
        name = _model_name(path, generator)
        key = _norm(name)
        if key in renamed:
            pass
        elif key.startswith("model") and key not in known:
            report.add(Finding("rename", name), generator)
        elif key not in known:
            report.add(Finding("inline", name, "no component schema of that name"), generator)
        if EMPTY_PATTERNS[generator].search(text) and key not in empty_ok:
            report.add(Finding("empty", name), generator)


def _camel(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _model_name(path: Path, generator: str) -> str:
    return _camel(path.stem) if generator == "dart" else path.stem  # dart: snake_case files


def check(spec_path: Path, out: Path, generators: Sequence[str] = GENERATORS) -> Report:
    spec = json.loads(spec_path.read_text())
    out.mkdir(parents=True, exist_ok=True)
    report = Report()
    for gen, (rc, log) in generate(spec_path, out, generators).items():
        if rc != 0:
            tail = " | ".join(log.strip().splitlines()[-3:])[:400]
            report.add(Finding("generator", gen, f"exit {rc}: {tail}"), gen)
            continue
        analyse(spec, gen, out / gen, log, report)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=root / "openapi" / "openapi.json")
    parser.add_argument("--out", type=Path, default=None, help="keep the clients here")
    parser.add_argument("--generators", nargs="+", default=list(GENERATORS))
    args = parser.parse_args(argv)
    if not java_available():
        print("openapi-generator: java is not installed (Java 17 is needed)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="openapi-generator-") as tmp:
        out = args.out or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        report = check(args.spec, out, args.generators)
    if report.ok:
        names = ", ".join(args.generators)
        print(f"openapi-generator ({names}): no renamed, inline or empty models")
        return 0
    counts = {k: len(report.names(k)) for k in ("generator", "rename", "inline", "empty")}
    print(
        "openapi-generator: "
        + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
        + f" ({', '.join(args.generators)})"
    )
    for line in report.lines():
        print("  " + line)
    return 2 if "generator" in report.kinds() else 1


if __name__ == "__main__":
    sys.exit(main())
