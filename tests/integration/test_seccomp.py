"""The seccomp profile in a real sandbox: user code is refused each call the profile refuses, and
the data stack still works.

Under runc the profile answers, with its own errnos. Under runsc (gVisor) this engine's runsc
does not load it (no `--oci-seccomp`, see gateway/sandbox/seccomp.py): gVisor's kernel answers
instead, refusing most of these calls itself with errnos of its own and serving GVISOR_SERVES
inside its sandbox, where they never reach the host's kernel.
"""

import json
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from gateway.sandbox.seccomp import PROFILE_JSON
from tests.gateway_process import GatewayProcess

# Each check runs in a forked child of the kernel, so that a call let through cannot disturb the
# kernel, and answers "ok", an errno's name, or "killed by <signal>". x86_64 call numbers.
REFUSALS = r"""
import ctypes, errno, json, mmap, os, signal, socket, time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
word = ctypes.c_ulong(7)


def raw(nr, *args):
    ctypes.set_errno(0)
    done = libc.syscall(ctypes.c_long(nr), *(ctypes.c_ulong(a & (1 << 64) - 1) for a in args))
    return "ok" if done >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")


def at(data=b""):
    return ctypes.addressof(ctypes.create_string_buffer(data, 256))


def iov(address):
    return ctypes.addressof((ctypes.c_ulong * 2)(address, 8))


def apart(check):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            answer = check()
        except OSError as e:
            answer = errno.errorcode.get(e.errno, "?")
        except BaseException as e:
            answer = repr(e)
        os.write(write, answer.encode()[:100])
        os._exit(0)
    os.close(write)
    answer = os.read(read, 100).decode()
    os.close(read)
    status = os.waitpid(pid, 0)[1]
    if os.WIFSIGNALED(status):
        return "killed by " + signal.Signals(os.WTERMSIG(status)).name
    return answer


def on_child(call):
    # call(pid) from the parent of a sleeping copy of this process, so `word` is mapped there.
    def check():
        target = os.fork()
        if target == 0:
            time.sleep(10)
            os._exit(0)
        try:
            return call(target)
        finally:
            os.kill(target, signal.SIGKILL)
            os.waitpid(target, 0)
    return check


def perf_attr():
    attr = ctypes.create_string_buffer(128)  # PERF_TYPE_SOFTWARE, size 112, CPU clock, user only
    ctypes.memmove(attr, (1).to_bytes(4, "little") + (112).to_bytes(4, "little"), 8)
    ctypes.memmove(ctypes.addressof(attr) + 40, (0x61).to_bytes(8, "little"), 8)
    return ctypes.addressof(attr)


def int80():
    code = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    code.write(bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3]))  # mov eax, 20 (i386 getpid); int 0x80
    done = ctypes.CFUNCTYPE(ctypes.c_long)(ctypes.addressof(ctypes.c_char.from_buffer(code)))()
    return "ok" if done == os.getpid() else errno.errorcode.get(-done, "?")


mine = ctypes.addressof(word)
checks = {
    "io_uring_setup": lambda: raw(425, 1, at()),
    "io_uring_enter": lambda: raw(426, 0, 0, 0, 0, 0, 0),
    "io_uring_register": lambda: raw(427, 0, 0, 0, 0),
    "socket AF_VSOCK": lambda: socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM) and "ok",
    "socket AF_VSOCK | 1 << 32": lambda: raw(41, 40 | 1 << 32, socket.SOCK_STREAM, 0),
    "socket AF_PACKET": lambda: raw(41, 17, socket.SOCK_DGRAM, 0),
    "socket AF_ALG": lambda: raw(41, 38, socket.SOCK_SEQPACKET, 0),
    "socketpair AF_VSOCK": lambda: raw(53, 40, socket.SOCK_STREAM, 0, at()),
    "socket NETLINK_AUDIT": lambda: raw(41, 16, socket.SOCK_RAW, 9),
    "ptrace TRACEME": lambda: raw(101, 0, 0, 0, 0),
    "ptrace ATTACH a child": on_child(lambda pid: raw(101, 16, pid, 0, 0)),
    "process_vm_readv": on_child(lambda pid: raw(310, pid, iov(at()), 1, iov(mine), 1, 0)),
    "process_vm_writev": on_child(lambda pid: raw(311, pid, iov(at()), 1, iov(mine), 1, 0)),
    "pidfd_getfd": on_child(lambda pid: raw(438, os.pidfd_open(pid), 0, 0)),
    "userfaultfd": lambda: raw(323, os.O_CLOEXEC | 1),  # UFFD_USER_MODE_ONLY
    "keyctl": lambda: raw(250, 0, -2, 1),
    "add_key": lambda: raw(248, at(b"user"), at(b"k"), at(b"v"), 1, -2),
    "request_key": lambda: raw(249, at(b"user"), at(b"k"), 0, -2),
    "bpf": lambda: raw(321, 0, at(), 72),
    "perf_event_open": lambda: raw(298, perf_attr(), 0, -1, -1, 0),
    "unshare CLONE_NEWUSER": lambda: raw(272, 0x10000000),
    "setns": lambda: raw(308, os.open("/proc/self/ns/user", os.O_RDONLY), 0),
    "clone CLONE_NEWUSER": lambda: raw(56, 0x10000000 | signal.SIGCHLD, 0, 0, 0, 0),
    "clone CLONE_NEWNS": lambda: raw(56, 0x00020000 | signal.SIGCHLD, 0, 0, 0, 0),
    "clone3": lambda: raw(435, at(), 88),
    "mount": lambda: raw(165, at(b"none"), at(b"/tmp"), at(b"tmpfs"), 0, 0),
    "umount2": lambda: raw(166, at(b"/tmp"), 0),
    "fsopen": lambda: raw(430, at(b"tmpfs"), 0),
    "pivot_root": lambda: raw(155, at(b"/"), at(b"/")),
    "kexec_load": lambda: raw(246, 0, 0, 0, 0),
    "init_module": lambda: raw(175, 0, 0, at()),
    "reboot": lambda: raw(169, 0xFEE1DEAD, 672274793, 0x4321FEDC, 0),
    "swapon": lambda: raw(167, at(b"/tmp/swap"), 0),
    "acct": lambda: raw(163, 0),
    "settimeofday": lambda: raw(164, 0, 0),
    "clock_settime": lambda: raw(227, 0, at()),
    "personality ADDR_NO_RANDOMIZE": lambda: raw(135, 0x0040000),
    "open_by_handle_at": lambda: raw(304, 0, at(), 0),
    "unlisted: vhangup": lambda: raw(153),
    "unknown: call 1000": lambda: raw(1000),
    "x32 ABI getpid": lambda: raw(0x40000000 | 39),
    "int 0x80 getpid": int80,
}
print(json.dumps({name: apart(check) for name, check in checks.items()}))
"""

EAFNOSUPPORT = "EAFNOSUPPORT"
UNDER_RUNC = {
    **dict.fromkeys(
        ("socket AF_VSOCK", "socket AF_VSOCK | 1 << 32", "socket AF_PACKET", "socket AF_ALG"),
        EAFNOSUPPORT,
    ),
    "socketpair AF_VSOCK": EAFNOSUPPORT,
    "socket NETLINK_AUDIT": "EPROTONOSUPPORT",
    "clone3": "ENOSYS",
    # Docker 20.10 drops defaultErrnoRet: unlisted calls get runc's EPERM, calls numbered above
    # all those the profile names get ENOSYS.
    "unknown: call 1000": "ENOSYS",
    "x32 ABI getpid": "killed by SIGSYS",
    "int 0x80 getpid": "killed by SIGSYS",
}
GVISOR_SERVES = {
    "io_uring_setup",
    "ptrace TRACEME",
    "ptrace ATTACH a child",
    "unshare CLONE_NEWUSER",
    "clone CLONE_NEWUSER",
    "clone CLONE_NEWNS",
}

DATA_STACK = r"""
import asyncio, json, multiprocessing, os, shutil, socket, subprocess, threading
import numpy as np, pandas as pd
import matplotlib.pyplot as plt

def square(x):
    return x * x

works = {}
frame = pd.DataFrame({"k": np.arange(1000) % 7, "v": np.arange(1000.0)})
works["groupby"] = len(frame.groupby("k").v.mean())
frame.to_parquet("f.parquet")
works["parquet"] = len(pd.read_parquet("f.parquet"))
frame.head().to_excel("f.xlsx")
works["excel"] = len(pd.read_excel("f.xlsx"))
works["numpy"] = int(np.linalg.svd(np.eye(50))[1].sum())
figure, axes = plt.subplots()
axes.plot(frame.v)
figure.savefig("f.png")
works["savefig"] = os.path.getsize("f.png") > 0
ran = []
threads = [threading.Thread(target=ran.append, args=(i,)) for i in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
works["threads"] = len(ran)
works["subprocess"] = subprocess.run(["ls"], capture_output=True, text=True).stdout.split()
with multiprocessing.Pool(2) as pool:
    works["pool"] = pool.map(square, range(4))
left, right = socket.socketpair()
left.send(b"x")
works["socketpair"] = right.recv(1).decode()
server = socket.create_server(("127.0.0.1", 0))
socket.create_connection(server.getsockname()).send(b"y")
works["loopback"] = server.accept()[0].recv(1).decode()
works["if_nameindex"] = [name for _, name in socket.if_nameindex()]
os.mkfifo("fifo")
shutil.copy2("f.png", "g.png")
works["asyncio"] = asyncio.run(asyncio.sleep(0, "slept"))
try:
    os.close(os.pidfd_open(os.getpid()))
    works["pidfd_open"] = "ok"
except OSError as e:
    works["pidfd_open"] = e.strerror
print(json.dumps(works))
"""


@pytest.fixture(scope="module", params=["runc", "runsc"])
def runtime_gateway(
    request: pytest.FixtureRequest,
    gateway_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    """A gateway whose sandboxes run under the runtime of the param."""
    env = {**gateway_env, "SANDBOX_RUNTIME": request.param}
    with GatewayProcess(env, tmp_path_factory.mktemp(f"seccomp-{request.param}")) as process:
        yield process


@pytest.fixture(scope="module")
def chat_id(runtime_gateway: GatewayProcess) -> Iterator[str]:
    """One chat (one sandbox) for the module's checks under each runtime: starting a sandbox is
    most of their time."""
    with runtime_gateway.new_chat() as chat_id:
        yield chat_id


def run_json(gateway: GatewayProcess, chat_id: str, code: str) -> dict[str, Any]:
    reply = gateway.run(chat_id, code)
    assert reply["status"] == "ok", reply
    result: dict[str, Any] = json.loads(reply["stdout"])
    return result


def test_refused_calls_are_refused(runtime_gateway: GatewayProcess, chat_id: str) -> None:
    runtime = runtime_gateway.env["SANDBOX_RUNTIME"]
    answers = run_json(runtime_gateway, chat_id, REFUSALS)
    if runtime == "runc":
        assert answers == {name: UNDER_RUNC.get(name, "EPERM") for name in answers}
    else:
        refused = {name: answer for name, answer in answers.items() if name not in GVISOR_SERVES}
        assert "ok" not in refused.values(), refused


def test_data_stack_works(
    runtime_gateway: GatewayProcess, chat_id: str, docker_client: docker.DockerClient
) -> None:
    runtime = runtime_gateway.env["SANDBOX_RUNTIME"]
    works = run_json(runtime_gateway, chat_id, DATA_STACK)
    host = docker_client.containers.get(f"ads-{chat_id}").attrs["HostConfig"]
    assert host["Runtime"] == runtime
    assert f"seccomp={PROFILE_JSON}" in host["SecurityOpt"]
    assert works == {
        "groupby": 7,
        "parquet": 1000,
        "excel": 5,
        "numpy": 50,
        "savefig": True,
        "threads": 4,
        "subprocess": ["f.parquet", "f.png", "f.xlsx"],
        "pool": [0, 1, 4, 9],
        "socketpair": "x",
        "loopback": "y",
        "if_nameindex": ["lo"],
        "asyncio": "slept",
        # The executor watches its kernel through a pidfd; gVisor's kernel lacks them.
        "pidfd_open": "ok" if runtime == "runc" else "Function not implemented",
    }
