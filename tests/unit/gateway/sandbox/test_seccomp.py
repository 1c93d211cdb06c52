"""The seccomp profile's structure: what it allows, what it refuses and how, read from the JSON
that Docker gets. What the kernel does with it is tests/integration/test_seccomp.py."""

import ctypes
import errno
import json
from typing import Any

import pytest

from gateway.sandbox import seccomp

# The JSON itself, as Docker reads it.
PROFILE: dict[str, Any] = json.loads(seccomp.PROFILE_JSON)
RULES: list[dict[str, Any]] = PROFILE["syscalls"]
AUDIT_ARCH_X86_64 = 0xC000003E
SIGCHLD = 17

# What issue 11 asks to refuse, outright.
MUST_REFUSE = """
    io_uring_setup io_uring_enter io_uring_register ptrace process_vm_readv process_vm_writev
    pidfd_getfd userfaultfd keyctl add_key request_key bpf perf_event_open unshare setns
    mount umount2 pivot_root open_tree move_mount fsopen fsconfig fsmount fspick mount_setattr
    kexec_load kexec_file_load init_module finit_module delete_module reboot swapon swapoff acct
    settimeofday clock_settime clock_adjtime adjtimex
"""
FILTERED = {"socket", "socketpair", "clone", "personality"}


def decide(name: str, *args: int) -> str:
    """What the profile answers to the call, as libseccomp would: "allow", an errno's name, or
    "default". The rules this profile has for one call never overlap, which test_rules_for_
    one_call_never_overlap checks on the same samples."""
    matched = {_answer(rule) for rule in RULES if name in rule["names"] and _matches(rule, args)}
    assert len(matched) <= 1, f"{name}{args} matches rules with different answers: {matched}"
    return matched.pop() if matched else "default"


def _answer(rule: dict[str, Any]) -> str:
    if rule["action"] == "SCMP_ACT_ALLOW":
        return "allow"
    return errno.errorcode[rule["errnoRet"]]


def _matches(rule: dict[str, Any], args: tuple[int, ...]) -> bool:
    for arg in rule["args"]:
        value = args[arg["index"]] if arg["index"] < len(args) else 0
        op, operand = arg["op"], arg["value"]
        holds = {
            "SCMP_CMP_EQ": value == operand,
            "SCMP_CMP_NE": value != operand,
            "SCMP_CMP_LT": value < operand,
            "SCMP_CMP_GT": value > operand,
            "SCMP_CMP_MASKED_EQ": value & operand == arg["valueTwo"],
        }[op]
        if not holds:
            return False
    return True


def allowed_unconditionally() -> set[str]:
    return {
        name
        for rule in RULES
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule["args"]
        for name in rule["names"]
    }


def test_is_an_allow_list_for_x86_64_only() -> None:
    assert PROFILE["defaultAction"] == "SCMP_ACT_ERRNO"
    assert PROFILE["defaultErrnoRet"] == errno.ENOSYS
    # x86 and x32 left out: their calls kill the process (and 32-bit socketcall is unfilterable).
    assert PROFILE["architectures"] == ["SCMP_ARCH_X86_64"]
    assert json.loads(seccomp.PROFILE_JSON) == seccomp.profile()


def test_every_name_is_an_x86_64_call_that_libseccomp_knows() -> None:
    # runc resolves names with libseccomp and silently drops those it does not know.
    try:
        libseccomp = ctypes.CDLL("libseccomp.so.2")
    except OSError as e:
        pytest.fail(f"libseccomp2 is missing ({e}); Docker's runc needs it too")
    resolve = libseccomp.seccomp_syscall_resolve_name_arch
    resolve.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    names = {name for rule in RULES for name in rule["names"]}
    assert [name for name in sorted(names) if resolve(AUDIT_ARCH_X86_64, name.encode()) < 0] == []


def test_refused_calls_are_in_no_allow_rule() -> None:
    refused = {name for names in seccomp.REFUSED.values() for name in names.split()}
    assert set(MUST_REFUSE.split()) <= refused
    allow_rules = [rule for rule in RULES if rule["action"] == "SCMP_ACT_ALLOW"]
    assert not refused & {name for rule in allow_rules for name in rule["names"]}
    for name in MUST_REFUSE.split():
        assert decide(name) == "EPERM", name


def test_allowed_groups_hold_each_name_once_and_no_filtered_call() -> None:
    names = [name for group in seccomp.ALLOWED.values() for name in group.split()]
    assert len(names) == len(set(names))
    assert not FILTERED & set(names)
    assert not {"clone3", "vhangup", "lookup_dcookie"} & allowed_unconditionally()


@pytest.mark.parametrize("call", ["socket", "socketpair"])
def test_sockets_only_of_the_listed_families(call: str) -> None:
    sock_stream, sock_raw = 1, 3
    for family in (1, 2, 10):
        assert decide(call, family, sock_stream, 0) == "allow"
    assert decide(call, 16, sock_raw, 0) == "allow"  # NETLINK_ROUTE
    assert decide(call, 16, sock_raw, 9) == "EPROTONOSUPPORT"  # NETLINK_AUDIT
    # AF_UNSPEC, AF_PACKET, AF_ALG, AF_VSOCK, AF_XDP, and a family hidden in the upper half
    # of the register (the kernel reads an int: 40).
    for family in (0, 3, 9, 11, 15, 17, 38, 40, 44, 45, 40 | 1 << 32, 1 | 1 << 32):
        assert decide(call, family, sock_stream, 0) == "EAFNOSUPPORT", family


def test_clone_only_without_new_namespaces() -> None:
    clone_thread = 0x3D0F00  # glibc's pthread_create flags
    assert decide("clone", clone_thread) == "allow"
    assert decide("clone", SIGCHLD) == "allow"  # fork
    for bit in seccomp.CLONE_NEW_FLAGS.values():
        assert decide("clone", bit | SIGCHLD) == "EPERM", hex(bit)
        assert decide("clone", bit | clone_thread) == "EPERM", hex(bit)
    allow = [r for r in RULES if "clone" in r["names"] and r["action"] == "SCMP_ACT_ALLOW"]
    assert [rule["args"] for rule in allow] == [
        [{"index": 0, "value": 0x7E020000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]
    ]


def test_clone3_answers_enosys_so_glibc_falls_back_to_clone() -> None:
    assert decide("clone3") == "ENOSYS"


def test_personality_only_the_query_and_linux() -> None:
    assert decide("personality", 0xFFFFFFFF) == "allow"
    assert decide("personality", 0) == "allow"
    # ADDR_NO_RANDOMIZE, PER_LINUX32, and the query in a full register (the kernel reads 32 bits)
    for persona in (0x0040000, 0x0008, 0xFFFFFFFFFFFFFFFF):
        assert decide("personality", persona) == "EPERM"


def test_rules_for_one_call_never_overlap() -> None:
    # decide() asserts it for each sample; these cover every comparison's edges.
    for family in range(0, 50):
        for protocol in (0, 9):
            decide("socket", family, 3, protocol)
    for bit in range(64):
        decide("clone", 1 << bit | SIGCHLD)
    for persona in (0, 1, 0xFFFFFFFE, 0xFFFFFFFF, 1 << 32):
        decide("personality", persona)
