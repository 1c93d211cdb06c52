"""Runs pip with environment markers evaluated for the image's Python instead of the host's.

Usage: python deploy/pip_for_target.py PYTHON_FULL_VERSION PIP_ARGS...

`pip download --python-version/--platform` picks wheels for another interpreter, but it still
evaluates markers such as `python_full_version < "3.11.3"` against the host's interpreter
(pypa/pip#11664), so a wheelhouse resolved on a 3.11.7 host misses dependencies that Debian's
3.11.2 needs (redis-py's async-timeout). pip's markers read packaging's default_environment() at
every evaluation, so replacing that function is enough.
"""

import runpy
import sys

from pip._vendor.packaging import markers

full_version = sys.argv.pop(1)
target = {
    **markers.default_environment(),
    "implementation_name": "cpython",
    "implementation_version": full_version,
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": full_version,
    "python_version": ".".join(full_version.split(".")[:2]),
    "sys_platform": "linux",
}
markers.default_environment = lambda: dict(target)
sys.argv[0] = "pip"
runpy.run_module("pip", run_name="__main__", alter_sys=True)
