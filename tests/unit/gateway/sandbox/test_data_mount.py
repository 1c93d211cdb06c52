"""Which mount a chat folder lies on, read from mountinfo."""

from pathlib import Path

from gateway.sandbox.data_mount import REQUIRED, mount_options

MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
58 22 254:0 /data/chats /data/chats rw,relatime - ext4 /dev/vda rw
59 58 254:0 /data/chats /data/chats rw,nosuid,nodev,noexec,relatime - ext4 /dev/vda rw
60 22 254:0 /my\\040data/chats /my\\040data/chats rw,noexec,nosuid,nodev - ext4 /dev/vda rw
61 22 0:50 / /data/chatsx rw - tmpfs tmpfs rw
"""


def test_the_last_mount_on_the_longest_mount_point_counts() -> None:
    # /data/chats was mounted twice; the second (on top) has the flags.
    assert mount_options(Path("/data/chats/c1/workspace"), MOUNTINFO) >= REQUIRED
    assert mount_options(Path("/data/chats"), MOUNTINFO) >= REQUIRED


def test_a_sibling_with_a_longer_name_is_not_a_parent() -> None:
    assert mount_options(Path("/data/other"), MOUNTINFO) == {"rw", "relatime"}
    assert mount_options(Path("/data/chatsx/a"), MOUNTINFO) == {"rw"}


def test_escaped_mount_points_are_read() -> None:
    assert mount_options(Path("/my data/chats/c1"), MOUNTINFO) >= REQUIRED
