"""The PyCharm run configurations under .run/ are well-formed and point at things that exist."""

import importlib.util
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = sorted((ROOT / ".run").glob("*.run.xml"))
EXPECTED = {"main_job", "step_through", "tests", "parity_tests", "parity_report", "benchmarks"}


def options(path: Path) -> tuple[ET.Element, dict[str, str]]:
    root = ET.parse(path).getroot()
    assert root.tag == "component" and root.get("name") == "ProjectRunConfigurationManager"
    config = root.find("configuration")
    assert config is not None
    return config, {o.get("name"): o.get("value") for o in config.findall("option")}


def test_every_expected_configuration_is_there():
    assert {p.name.removesuffix(".run.xml") for p in CONFIGS} == EXPECTED


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_configuration_is_a_python_run_configuration(path):
    config, opts = options(path)
    assert config.get("type") == "PythonConfigurationType" and config.get("factoryName") == "Python"
    assert config.get("name")
    assert opts["WORKING_DIRECTORY"] == "$PROJECT_DIR$"
    assert opts["MODULE_MODE"] in ("true", "false")
    envs = {e.get("name"): e.get("value") for e in config.find("envs").findall("env")}
    assert envs["TF_ENABLE_ONEDNN_OPTS"] == "0"


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_configuration_target_exists(path):
    _, opts = options(path)
    target, params = opts["SCRIPT_NAME"], opts["PARAMETERS"]
    if opts["MODULE_MODE"] == "false":
        script = Path(target.replace("$PROJECT_DIR$", str(ROOT)))
        assert script.is_file(), script
        return
    package = ROOT / (params.split()[0] if target == "pytest" else target.split(".")[0])
    assert package.exists(), package
    assert importlib.util.find_spec(target) is not None, target
    if target == "pytest":  # the folder it runs
        assert (ROOT / params.split()[0]).is_dir()
    else:
        assert (package / "__main__.py").is_file() or (ROOT / (target.replace(".", "/") + ".py")).is_file()
