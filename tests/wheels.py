"""Wheels made in the tests, for a package store of their own: a pure-Python one, and one with a
compiled extension built with the host's gcc against the host's CPython 3.11 headers (the same
ABI, cp311, and glibc as the sandbox's Debian 12 Python 3.11).

They are zipped here by hand (a wheel is a zip with a .dist-info folder, PEP 427) rather than
with `pip wheel`, which needs setuptools and wheel from an index in its isolated build: the tests
need no network and no build tools beyond gcc.
"""

import base64
import hashlib
import subprocess
import sysconfig
import tempfile
import zipfile
from pathlib import Path

PURE_TAG = "py3-none-any"
# What `make packages` downloads for the sandbox (deploy/lib.sh's PIP_TARGET) accepts too.
EXTENSION_TAG = "cp311-cp311-manylinux_2_17_x86_64"


def write_wheel(
    store: Path,
    name: str,
    version: str,
    files: dict[str, bytes],
    tag: str = PURE_TAG,
    requires: list[str] | None = None,
) -> Path:
    """A wheel of `files` (path in site-packages -> content) in `store`."""
    dist_info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires or [])
    pure = "true" if tag == PURE_TAG else "false"
    wheel_meta = f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: {pure}\nTag: {tag}\n"
    contents = {
        **files,
        f"{dist_info}/METADATA": metadata.encode(),
        f"{dist_info}/WHEEL": wheel_meta.encode(),
    }
    record = []
    for path, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    contents[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = store / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as wheel:
        for member, data in contents.items():
            wheel.writestr(member, data)
    return path


def extension_module(module: str, source: str) -> bytes:
    """A CPython 3.11 extension module compiled from C `source` with the host's gcc."""
    with tempfile.TemporaryDirectory(prefix="ads-wheel-") as work:
        c_file = Path(work) / f"{module}.c"
        so_file = Path(work) / f"{module}.so"
        c_file.write_text(source)
        subprocess.run(
            [
                "gcc",
                "-shared",
                "-fPIC",
                "-O1",
                f"-I{sysconfig.get_paths()['include']}",
                str(c_file),
                "-o",
                str(so_file),
            ],
            check=True,
            capture_output=True,
        )
        return so_file.read_bytes()


def extension_source(module: str, function: str, value: int) -> str:
    """C source of a module whose `function()` returns `value`."""
    return f"""
#include <Python.h>
static PyObject *f(PyObject *self, PyObject *args) {{ return PyLong_FromLong({value}); }}
static PyMethodDef methods[] = {{{{"{function}", f, METH_NOARGS, NULL}}, {{NULL, NULL, 0, NULL}}}};
static struct PyModuleDef def = {{PyModuleDef_HEAD_INIT, "{module}", NULL, -1, methods}};
PyMODINIT_FUNC PyInit_{module}(void) {{ return PyModule_Create(&def); }}
"""
