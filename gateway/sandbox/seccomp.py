"""The sandboxes' seccomp profile: an allow-list of the x86_64 system calls they need.

Why our own: the default profile built into Debian's docker.io 20.10 allows `io_uring_*`,
`socket(AF_VSOCK)` and `ptrace`, and as a deny-list it lets through whatever a newer kernel adds.
This one is an allow-list: the calls that CPython and the data stack (numpy, pandas, matplotlib,
pyarrow, openpyxl, scipy, threads, subprocess, multiprocessing, asyncio) make, grouped in ALLOWED.

What it refuses:
- every call it does not list, so a call that a future kernel adds stays refused until it is
  listed here. The profile asks for ENOSYS, the answer of a kernel that lacks the call, on which
  libraries fall back; Docker 20.10 drops that field, so there runc answers EPERM, and ENOSYS
  only for calls numbered above all the profile names;
- the calls in REFUSED, each with its reason there, with EPERM;
- `socket` and `socketpair` for any family but AF_UNIX, AF_INET, AF_INET6 and AF_NETLINK, with
  EAFNOSUPPORT (AF_VSOCK reaches the host's hypervisor, AF_PACKET/AF_ALG/... are rarely used
  kernel code), and netlink for any protocol but NETLINK_ROUTE (what getaddrinfo and
  if_nameindex use), with EPROTONOSUPPORT;
- `clone` with any CLONE_NEW* flag, with EPERM: an unprivileged user namespace would hand the
  code every capability inside it, and with them netfilter, mounts and other rarely used kernel
  code, although the container dropped all of its capabilities;
- `personality` other than the query and PER_LINUX, with EPERM (ADDR_NO_RANDOMIZE would turn
  address randomisation off for the code's children);
- the 32-bit x86 and x32 system call ABIs: only x86_64 is listed, so libseccomp's filter kills a
  process that makes such a call (the 32-bit `socketcall` would pass socket arguments in memory,
  where no filter can check the family).

What it does not protect against: bugs in the calls it allows (files, memory, futexes, epoll,
AF_UNIX/AF_INET/netlink route sockets, signals are still a large part of the host kernel; a
kernel of its own, gVisor, is the answer to that); anything that does not need a system call of
its own, such as exhausting memory or processes (the container's limits), side channels between
tenants, or what the chat's own folders and socket give access to (the gateway's rules).

Under gVisor (runsc) the profile is handed to runsc, which ignores it unless it runs with
`--oci-seccomp`. deploy/ensure-gvisor.sh does not set that: Debian 12's runsc (2022-12-19) would
then refuse with EPERM whatever errno a rule names, and an EPERM from clone3 keeps glibc from
starting threads. So under runsc the calls reach gVisor's kernel, never the host's: it refuses
most of the above itself and serves ptrace, io_uring_setup and new namespaces inside its sandbox.
"""

import errno
import json
from typing import Literal, NotRequired, TypedDict

_Op = Literal["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"]


class _Arg(TypedDict):
    index: int
    value: int
    valueTwo: int
    op: _Op


class Rule(TypedDict):
    names: list[str]
    action: Literal["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO"]
    args: list[_Arg]
    errnoRet: NotRequired[int]
    comment: NotRequired[str]


class Profile(TypedDict):
    defaultAction: Literal["SCMP_ACT_ERRNO"]
    defaultErrnoRet: int
    architectures: list[str]
    syscalls: list[Rule]


# The allowed calls by what they are for; each group is a space-separated list of x86_64 names
# (asm/unistd_64.h). socket, socketpair, clone and personality are allowed for some arguments
# only: see their rules below.
ALLOWED: dict[str, str] = {
    "file descriptors and their data": """
        read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 lseek
        open openat openat2 creat close close_range dup dup2 dup3 fcntl flock ioctl
        fsync fdatasync sync syncfs sync_file_range truncate ftruncate fallocate fadvise64
        readahead sendfile copy_file_range splice tee
    """,
    "file metadata and names": """
        stat fstat lstat newfstatat statx statfs fstatfs access faccessat faccessat2
        readlink readlinkat getdents getdents64 getcwd chdir fchdir umask
        chmod fchmod fchmodat chown fchown lchown fchownat utime utimes utimensat futimesat
        mkdir mkdirat rmdir rename renameat renameat2 link linkat symlink symlinkat
        unlink unlinkat
        inotify_init inotify_init1 inotify_add_watch inotify_rm_watch
    """,
    # os.mkfifo; device nodes need CAP_MKNOD, which the container does not have.
    "FIFOs": "mknod mknodat",
    # shutil.copy2 copies them.
    "extended attributes": """
        getxattr lgetxattr fgetxattr listxattr llistxattr flistxattr
        setxattr lsetxattr fsetxattr removexattr lremovexattr fremovexattr
    """,
    "memory": """
        brk mmap munmap mremap mprotect madvise msync mincore
        mlock mlock2 munlock mlockall munlockall membarrier memfd_create
        pkey_alloc pkey_free pkey_mprotect
    """,
    # Of the process's own memory (OpenBLAS and allocators ask); moving another process's pages
    # needs CAP_SYS_NICE.
    "NUMA placement": "mbind get_mempolicy set_mempolicy",
    "processes and threads": """
        fork vfork execve execveat exit exit_group wait4 waitid
        kill tkill tgkill pidfd_open pidfd_send_signal
        getpid gettid getppid getpgid getpgrp setpgid getsid setsid
        set_tid_address set_robust_list get_robust_list rseq arch_prctl prctl
        getrlimit setrlimit prlimit64 getrusage times getpriority setpriority ioprio_get
    """,
    "scheduling": """
        sched_yield sched_getaffinity sched_setaffinity sched_getparam sched_setparam
        sched_getscheduler sched_setscheduler sched_getattr sched_setattr
        sched_get_priority_max sched_get_priority_min sched_rr_get_interval
    """,
    # Without capabilities the set* calls only move between ids the process already has, and
    # capset only lowers what it holds (runc drops capabilities with it after loading this
    # profile when no-new-privileges is off).
    "identity": """
        getuid geteuid getgid getegid getresuid getresgid getgroups
        setuid setgid setreuid setregid setresuid setresgid setgroups setfsuid setfsgid
        capget capset
    """,
    "signals": """
        rt_sigaction rt_sigprocmask rt_sigreturn rt_sigpending rt_sigtimedwait
        rt_sigqueueinfo rt_tgsigqueueinfo rt_sigsuspend sigaltstack pause restart_syscall
        alarm getitimer setitimer signalfd signalfd4
    """,
    # Reading the clock only: it is the host's.
    "time and timers": """
        clock_gettime clock_getres clock_nanosleep nanosleep gettimeofday time
        timer_create timer_settime timer_gettime timer_getoverrun timer_delete
        timerfd_create timerfd_settime timerfd_gettime
    """,
    "waiting and events": """
        futex futex_waitv poll ppoll select pselect6
        epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2
        eventfd eventfd2
    """,
    # multiprocessing: pipes, POSIX semaphores and shared memory. System V IPC and POSIX message
    # queues are the container's own (it has an IPC namespace of its own).
    "inter-process communication": """
        pipe pipe2 shmget shmat shmdt shmctl semget semop semtimedop semctl
        msgget msgsnd msgrcv msgctl
        mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr
    """,
    "sockets": """
        bind listen accept accept4 connect getsockname getpeername getsockopt setsockopt
        sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg shutdown
    """,
    "system information": "uname sysinfo getrandom getcpu",
}

# Refused with EPERM, by reason. Every unlisted call is refused anyway; these are named so that
# nobody adds one to ALLOWED without reading why not.
REFUSED: dict[str, str] = {
    "io_uring runs calls inside the kernel, past any filter; many escalations": """
        io_uring_setup io_uring_enter io_uring_register
    """,
    "reads and writes other processes' memory and registers": "ptrace",
    "reads or writes another process's memory": "process_vm_readv process_vm_writev",
    "takes a file descriptor out of another process": "pidfd_getfd",
    "compares other processes' kernel objects, a help to exploits": "kcmp",
    "stalls the kernel mid-copy, the usual way to win an exploit's race": "userfaultfd",
    "kernel keyrings are not namespaced per container": "keyctl add_key request_key",
    "loads programs into the kernel": "bpf",
    "profiles the kernel and hardware: side channels, a history of bugs": "perf_event_open",
    "a new user namespace hands out every capability inside it (see clone)": "unshare setns",
    "changes the file system view the container was given": """
        mount umount2 pivot_root chroot open_tree move_mount fsopen fsconfig fsmount fspick
        mount_setattr
    """,
    "opens files by handle, past the container's mounts (the 'shocker' escape)": """
        open_by_handle_at name_to_handle_at
    """,
    "replaces or stops the host's kernel": "kexec_load kexec_file_load reboot",
    "loads code into the host's kernel": "init_module finit_module delete_module",
    "the host's swap": "swapon swapoff",
    "host-wide process accounting": "acct",
    "the clock is the host's, not the container's": """
        settimeofday clock_settime clock_adjtime adjtimex
    """,
    "raw hardware I/O ports": "iopl ioperm",
    "16-bit segments, old kernel bugs": "modify_ldt",
    "the kernel's log shows kernel addresses": "syslog",
    "watches file systems beyond the container's": "fanotify_init fanotify_mark",
    "the host's disk quotas": "quotactl quotactl_fd",
    "acts on other processes' memory": """
        move_pages migrate_pages process_madvise process_mrelease
    """,
}


# Linux's values (include/linux/socket.h, include/uapi/linux/sched.h, personality.h).
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16
NETLINK_ROUTE = 0
CLONE_NEW_FLAGS = {
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
CLONE_NEW_MASK = sum(CLONE_NEW_FLAGS.values())
PER_LINUX = 0
PERSONALITY_QUERY = 0xFFFFFFFF


def _arg(index: int, op: _Op, value: int, value_two: int = 0) -> _Arg:
    return {"index": index, "value": value, "valueTwo": value_two, "op": op}


def _allow(names: list[str], *args: _Arg) -> Rule:
    return {"names": names, "action": "SCMP_ACT_ALLOW", "args": list(args)}


def _refuse(names: list[str], errno_ret: int, comment: str, *args: _Arg) -> Rule:
    return {
        "names": names,
        "action": "SCMP_ACT_ERRNO",
        "errnoRet": errno_ret,
        "args": list(args),
        "comment": comment,
    }


def _socket_rules() -> list[Rule]:
    calls = ["socket", "socketpair"]
    family = 0
    # The comparisons see the whole 64-bit register while the kernel reads an int, so a family
    # is allowed by equality only: 40 | 1 << 32 is not AF_UNIX and falls through to a refusal.
    return [
        _allow(calls, _arg(family, "SCMP_CMP_EQ", AF_UNIX)),
        _allow(calls, _arg(family, "SCMP_CMP_EQ", AF_INET)),
        _allow(calls, _arg(family, "SCMP_CMP_EQ", AF_INET6)),
        _allow(
            calls, _arg(family, "SCMP_CMP_EQ", AF_NETLINK), _arg(2, "SCMP_CMP_EQ", NETLINK_ROUTE)
        ),
        _refuse(
            calls,
            errno.EPROTONOSUPPORT,
            "netlink other than NETLINK_ROUTE",
            _arg(family, "SCMP_CMP_EQ", AF_NETLINK),
            _arg(2, "SCMP_CMP_NE", NETLINK_ROUTE),
        ),
        *(
            _refuse(calls, errno.EAFNOSUPPORT, "address family not allowed", *args)
            for args in (
                (_arg(family, "SCMP_CMP_EQ", 0),),
                (_arg(family, "SCMP_CMP_GT", AF_INET), _arg(family, "SCMP_CMP_LT", AF_INET6)),
                (_arg(family, "SCMP_CMP_GT", AF_INET6), _arg(family, "SCMP_CMP_LT", AF_NETLINK)),
                (_arg(family, "SCMP_CMP_GT", AF_NETLINK),),
            )
        ),
    ]


def _clone_rules() -> list[Rule]:
    flags = 0
    return [
        # Threads, fork, posix_spawn: allowed when no CLONE_NEW* bit is set.
        _allow(["clone"], _arg(flags, "SCMP_CMP_MASKED_EQ", CLONE_NEW_MASK, 0)),
        *(
            _refuse(
                ["clone"],
                errno.EPERM,
                f"{name}: no new namespaces",
                _arg(flags, "SCMP_CMP_MASKED_EQ", bit, bit),
            )
            for name, bit in CLONE_NEW_FLAGS.items()
        ),
        # clone3 passes its flags in memory, where a filter cannot look; glibc falls back to
        # clone on ENOSYS.
        _refuse(["clone3"], errno.ENOSYS, "flags in memory, unfilterable: use clone"),
    ]


def _personality_rules() -> list[Rule]:
    persona = 0
    return [
        _allow(["personality"], _arg(persona, "SCMP_CMP_EQ", PER_LINUX)),
        _allow(["personality"], _arg(persona, "SCMP_CMP_EQ", PERSONALITY_QUERY)),
        _refuse(
            ["personality"],
            errno.EPERM,
            "only the query and PER_LINUX",
            _arg(persona, "SCMP_CMP_NE", PER_LINUX),
            _arg(persona, "SCMP_CMP_NE", PERSONALITY_QUERY),
        ),
    ]


def profile() -> Profile:
    """The profile as Docker reads it (`--security-opt seccomp=<its JSON>`)."""
    allowed = sorted(name for names in ALLOWED.values() for name in names.split())
    refused = [_refuse(names.split(), errno.EPERM, reason) for reason, names in REFUSED.items()]
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": errno.ENOSYS,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            _allow(allowed),
            *_socket_rules(),
            *_clone_rules(),
            *_personality_rules(),
            *refused,
        ],
    }


PROFILE_JSON = json.dumps(profile(), separators=(",", ":"))
