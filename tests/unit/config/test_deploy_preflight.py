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


IDENTITY = "JwtIssuer=https://id.example.com/ JwtAudience=practika CorsAllowedOrigins=https://app.example.com"


def config_with(tmp_path: Path, section: str, stack_name: str) -> Path:
    path = tmp_path / "named.toml"
    path.write_text(f'[dev.{section}.parameters]\nstack_name = "{stack_name}"\nregion = "us-east-1"\n')
    return path


def test_an_uppercase_stack_name_is_refused_naming_the_bucket_name_rule(tmp_path, capsys):
    code, out, err = run(config_with(tmp_path, "deploy", "Practika-Dev"), IDENTITY, capsys)
    assert code == 1 and out == ""
    assert "stack_name 'Practika-Dev' makes UploadsBucket 'Practika-Dev-uploads-" in err
    assert "S3 bucket names are 3-63 characters of lowercase letters" in err
    assert "example: make deploy" not in err  # the identity settings were given


def test_a_stack_name_is_refused_once_a_bucket_name_would_pass_63_characters(tmp_path, capsys):
    # "<stack>-uploads-<12-digit account>-us-east-1" is the longest: 31 characters besides the stack name.
    code, _, _ = run(config_with(tmp_path, "deploy", "p" * 32), IDENTITY, capsys)
    assert code == 0
    code, _, err = run(config_with(tmp_path, "deploy", "p" * 33), IDENTITY, capsys)
    assert code == 1
    assert "(64 characters)" in err and "ClipsBucket" not in err


def test_the_stack_name_is_read_from_the_global_section_as_sam_cli_does(tmp_path, capsys):
    code, _, err = run(config_with(tmp_path, "global", "Practika"), IDENTITY, capsys)
    assert code == 1 and "stack_name 'Practika'" in err


def test_a_config_env_without_a_stack_name_is_refused(tmp_path, capsys):
    path = tmp_path / "unnamed.toml"
    path.write_text('[dev.deploy.parameters]\nregion = "us-east-1"\n')
    code, _, err = run(path, IDENTITY, capsys)
    assert code == 1 and "no stack_name for dev" in err


@pytest.mark.parametrize("config_env", ["dev", "prod"])
def test_the_configured_stacks_form_valid_bucket_names(config_env):
    samconfig = ROOT / "samconfig.toml"
    stack_name = preflight.deploy_setting(samconfig, config_env, "stack_name")
    region = preflight.deploy_setting(samconfig, config_env, "region")
    template = preflight.load_template(ROOT / "template.yaml")
    overrides = preflight.configured_overrides(samconfig, config_env)
    names = preflight.bucket_names(template, overrides, stack_name, region)
    assert set(names) == {"UploadsBucket", "ClipsBucket"}
    assert all(name.startswith(f"{stack_name}-") for name in names.values()), names
    assert preflight.stack_name_problems(template, overrides, stack_name, region) == []
