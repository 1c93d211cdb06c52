"""What a package request may name (only `name` or `name==version`), and wheels' file names."""

import pytest

from shared.packages import (
    InvalidRequirement,
    Requirement,
    canonical_name,
    operator_command,
    parse_requirement,
    wheel_of,
)


@pytest.mark.parametrize(
    ("entry", "parsed"),
    [
        ("lifelines", Requirement("lifelines")),
        ("lifelines==0.27.8", Requirement("lifelines", "0.27.8")),
        (" Scikit_Learn == 1.5.0rc1 ", Requirement("Scikit_Learn", "1.5.0rc1")),
        ("a", Requirement("a")),
        ("zope.interface==6.0.post1", Requirement("zope.interface", "6.0.post1")),
    ],
)
def test_names_and_exact_versions_are_taken(entry: str, parsed: Requirement) -> None:
    assert parse_requirement(entry) == parsed


@pytest.mark.parametrize(
    "entry",
    [
        "",
        "-r requirements.txt",
        "--index-url=http://203.0.113.1/simple",
        "--extra-index-url=http://203.0.113.1/simple",
        "-e git+https://203.0.113.1/x.git#egg=x",
        "git+https://203.0.113.1/x.git",
        "x @ https://203.0.113.1/x.whl",
        "x @ file:///etc/passwd",
        "/tmp/x.whl",
        "./x",
        "x>=1",
        "x==1.*",
        "x===1",
        "x[extra]",
        "x; sys_platform == 'linux'",
        "x==1 y==2",
        "x==1\n--index-url=http://203.0.113.1",
        "-x",
        "x-",
        "x" * 201,
    ],
)
def test_anything_else_is_refused_naming_it(entry: str) -> None:
    with pytest.raises(InvalidRequirement) as refused:
        parse_requirement(entry)
    assert repr(entry[:80])[:-1] in str(refused.value)


def test_canonical_names_and_the_operator_line() -> None:
    assert canonical_name("Scikit_Learn.x") == "scikit-learn-x"
    wanted = [Requirement("lifelines", "0.27.8"), Requirement("xgboost")]
    assert operator_command(wanted) == 'make packages PKGS="lifelines==0.27.8 xgboost"'


def test_wheel_file_names() -> None:
    wheel = wheel_of("Scikit_Learn-1.5.0-cp311-cp311-manylinux_2_17_x86_64.whl")
    assert wheel is not None and (wheel.name, wheel.version) == ("scikit-learn", "1.5.0")
    assert wheel_of("pkg-1.0-1-py3-none-any.whl") is not None  # a build tag
    assert wheel_of("pkg-1.0.tar.gz") is None
    assert wheel_of("README.whl") is None
