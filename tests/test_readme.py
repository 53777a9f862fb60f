"""README command 2 and .ci/run must stay the same command."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_the_readme_test_command():
    readme, ci = ROOT / "README.md", ROOT / ".ci" / "run"
    if not (readme.exists() and ci.exists()):
        pytest.skip("not running from a source checkout")
    blocks = re.findall(r"```bash\n(.*?)```", readme.read_text(), flags=re.S)
    commands = [line for block in blocks[:2] for line in block.splitlines() if line and not line.startswith("#")]
    assert len(commands) == 2, commands
    ci_command = re.search(r"^TEST_COMMAND='(.*)'$", ci.read_text(), flags=re.M).group(1)
    assert commands[1] == ci_command
    assert "recfreq-quickstart" in commands[0]


def test_readme_python_example_runs():
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("not running from a source checkout")
    for block in re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.S):
        exec(compile(block, str(readme), "exec"), {})
