"""The docs stay true by test: every setting is documented, the README's commands exist."""

from __future__ import annotations

import re
from pathlib import Path

from typer.testing import CliRunner

from pagepulse.cli import app
from pagepulse.config import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme():
    documented = set(re.findall(r"`(PAGEPULSE_[A-Z_]+)`", README))
    settings = {f"PAGEPULSE_{name.upper()}" for name in Settings.model_fields}
    assert settings - documented == set(), "document these in README.md (Configuration)"
    assert documented - settings == set(), "README.md documents settings that do not exist"


def test_readme_set_up_commands_are_the_makefile_targets_ci_runs():
    makefile = (ROOT / "Makefile").read_text()
    assert "make run" in README and "make test" in README
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_every_cli_command_in_the_readme_exists():
    runner = CliRunner()
    block = README.split("## Command line", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    for line in block.strip().splitlines():
        words = line.split("#")[0].split()[1:]
        command = [w for w in words if re.fullmatch(r"[a-z]+", w)][:2]
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, f"pagepulse {' '.join(command)}: {result.output}"


def test_every_file_named_in_code_design_exists():
    section = README.split("## Code design", 1)[1].split("\n## ", 1)[0]
    names = re.findall(r"`(\w[\w./-]*(?:\.(?:py|toml|js|sql)|/))`", section)
    assert len(names) > 30, names
    package = ROOT / "pagepulse"
    missing = [
        name
        for name in names
        if not (ROOT / name).exists()
        and not (package / name).exists()
        and not any(package.rglob(name.rstrip("/")))
    ]
    assert missing == [], "README.md (Code design) names files that do not exist"
