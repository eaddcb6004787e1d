"""`make deploy` refuses placeholder parameters and names the one to pass (scripts/deploy_preflight.py)."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("deploy_preflight", ROOT / "scripts" / "deploy_preflight.py")
assert _spec and _spec.loader
preflight = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(preflight)

SAMCONFIG = """
[dev.deploy.parameters]
stack_name = "practika-dev"
parameter_overrides = "Environment=dev LogLevel=DEBUG"
"""


@pytest.fixture
def samconfig(tmp_path: Path) -> Path:
    path = tmp_path / "samconfig.toml"
    path.write_text(SAMCONFIG)
    return path


def run(samconfig: Path, params: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = preflight.main(["--config-env", "dev", "--params", params, "--samconfig", str(samconfig)])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_template_marks_the_jwt_issuer_and_audience_as_placeholders():
    template = preflight.load_template(ROOT / "template.yaml")
    assert {"JwtIssuer", "JwtAudience"} <= set(preflight.placeholders(template))


def test_a_deploy_with_the_placeholder_identity_settings_is_refused_naming_each_parameter(samconfig, capsys):
    code, out, err = run(samconfig, "", capsys)
    assert code == 1 and out == ""
    assert "JwtIssuer is the placeholder" in err and "JwtAudience is the placeholder" in err
    assert "pass JwtIssuer=<value> in PARAMS" in err


def test_a_deploy_missing_only_the_audience_names_only_the_audience(samconfig, capsys):
    code, _, err = run(samconfig, "JwtIssuer=https://id.example.com/", capsys)
    assert code == 1
    assert "JwtAudience" in err and "JwtIssuer" not in err.split("example:")[0]


def test_a_deploy_with_real_values_prints_the_samconfig_overrides_and_params_for_sam(samconfig, capsys):
    code, out, _ = run(
        samconfig,
        "JwtIssuer=https://id.example.com/ JwtAudience=practika LogLevel=INFO "
        "CorsAllowedOrigins=https://app.example.com",
        capsys,
    )
    assert code == 0
    assert out.split() == [
        "Environment=dev",
        "LogLevel=INFO",
        "JwtIssuer=https://id.example.com/",
        "JwtAudience=practika",
        "CorsAllowedOrigins=https://app.example.com",
    ]


def test_values_with_spaces_and_quotes_are_quoted_the_way_sam_reads_them():
    assert preflight.sam_quote("plain") == "plain"
    assert preflight.sam_quote('{"a": 1}') == '"{\\"a\\": 1}"'
    assert preflight.parse_overrides('ChatRoutes="{\\"a\\": 1}" X=y') == {"ChatRoutes": '{"a": 1}', "X": "y"}
