"""Agents run confined: a bubblewrap (`bwrap`) sandbox around every process the relay starts.

What a sandboxed agent sees (everything else does not exist in its mount namespace):

    read-write  its workspace; its own config and cache directories (declared by its adapter,
                under its HOME or named by an environment variable such as CODEX_HOME)
    read-only   /usr, /bin, /sbin, /lib*, /etc, /opt; the directory its executable is installed
                in (for a CLI from npm, the directory holding its node_modules); the relay's
                `sandbox_read_only` paths; the directories of its PATH
    private     an empty /tmp and an empty HOME (tmpfs, gone with the session); a new /proc that
                shows only the sandbox's own processes (new PID namespace; not for a terminal,
                see OWN_PIDS); a minimal /dev with its own /dev/pts
    hidden      the relay's state directory (outbox, hook sockets), its token and config file,
                the `sandbox_hide` paths (the server's data directory for `tether serve`'s
                relay) and other workspaces, even where they lie inside a visible directory
    bound in    the workspace's own Claude Code hooks socket, at `<state dir>/hooks.sock`

The network is shared (agents need their model API). All capabilities are dropped and the agent
runs in a new user namespace, so it cannot read the environment or memory of any process outside
it, even one of its own user that sits in its /proc (a PTY session's): reading another process
needs CAP_SYS_PTRACE in that process's user namespace. The sandbox dies with the process that
started it.

Terminals: no `--new-session`. A PTY session's terminal must stay its controlling terminal (job
control, Ctrl-C); TIOCSTI (pushing keystrokes into a terminal) can only reach that terminal,
whose every reader is inside the same sandbox, because the relay makes a new one per session and
the sandbox has its own /dev/pts. Structured agents get no terminal: the relay starts them in a
new session of their own (setsid) with pipes only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from relay.errors import SpawnError

log = logging.getLogger(__name__)

BWRAP = "bwrap"
PROBE_TIMEOUT_S = 10.0  # a trivial sandboxed `true`; a host that needs longer has other trouble
SYSTEM_READ_ONLY = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt")
NAMESPACES = ("--unshare-user", "--unshare-ipc", "--unshare-cgroup-try")
# Not for terminals: a shell's job control needs its terminal's session leader in its own PID
# namespace (else "Cannot set tty process group"), and that leader is bwrap outside it.
OWN_PIDS = "--unshare-pid"
SANDBOX_MODES = ("auto", "bwrap", "none")


class SandboxUnavailableError(Exception):
    """`bwrap` was asked for and cannot run here; the message says why."""


@dataclasses.dataclass(frozen=True)
class AgentPaths:
    """The config and cache directories an agent writes, as its adapter declares them."""

    home: tuple[str, ...] = ()  # directories below the agent's HOME, made when missing
    home_files: tuple[str, ...] = ()  # files below its HOME, shown when they exist
    env: tuple[tuple[str, str], ...] = ()  # (variable, directory below it): ("CODEX_HOME", "")


@dataclasses.dataclass(frozen=True)
class Confinement:
    """The relay-wide part: what is hidden and shown to every sandboxed agent."""

    bwrap: str  # absolute path of bwrap, "" when the host cannot run it
    reason: str  # why bwrap cannot run, when it cannot
    hidden: tuple[str, ...]  # state dir, token file, config file, sandbox_hide paths
    read_only: tuple[str, ...]  # sandbox_read_only paths
    state_dir: str

    @property
    def available(self) -> bool:
        return bool(self.bwrap)


def confinement(
    *, wanted: bool, state_dir: str, hidden: Sequence[str], read_only: Sequence[str]
) -> Confinement:
    """The relay-wide sandbox, probed once at start when any session may want it."""
    bwrap, reason = probe() if wanted else ("", "turned off in the relay's settings")
    return Confinement(bwrap, reason, (state_dir, *hidden), tuple(read_only), state_dir)


def choose(mode: str, confined: Confinement) -> Confinement | None:
    """The sandbox for a session whose setting is `mode`; raises SandboxUnavailableError when
    bwrap is required and cannot run."""
    if mode == "none" or (mode == "auto" and not confined.available):
        return None
    if not confined.available:
        raise SandboxUnavailableError(f"sandbox = bwrap, but {confined.reason}")
    return confined


def probe(executable: str = BWRAP) -> tuple[str, str]:
    """(absolute path of bwrap, "") when a trivial sandbox runs here, else ("", the reason)."""
    found = shutil.which(executable)
    if found is None:
        return "", f"{executable} is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
    argv = [found, *_base_flags(), OWN_PIDS, *_system_binds(), "--", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=PROBE_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", f"{executable} cannot run: {exc}"
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        detail = why[-1] if why else f"exit status {done.returncode}"
        return "", f"{executable} cannot make a sandbox here (user namespaces?): {detail}"
    return found, ""


@dataclasses.dataclass(frozen=True)
class SessionSandbox:
    """How one session's process is started: `wrap()` turns its argv into the sandboxed one."""

    confinement: Confinement | None  # None: not sandboxed
    workspace: str = ""
    others: tuple[str, ...] = ()  # the relay's other workspaces
    hooks_socket: str = ""  # this workspace's hooks socket, "" when there is none
    paths: AgentPaths = AgentPaths()

    def wrap(
        self, argv: Sequence[str], env: Mapping[str, str], *, terminal: bool = False
    ) -> list[str]:
        """`argv` as run inside the sandbox with `env`, or unchanged when not sandboxed.
        A `terminal` program keeps the host's PID namespace (see OWN_PIDS)."""
        if self.confinement is None:
            return list(argv)
        c = self.confinement
        program = self._program(argv[0] if argv else "", env)
        home = env.get("HOME", "")
        flags = [*_base_flags(), *([] if terminal else [OWN_PIDS]), *_system_binds()]
        flags += ["--tmpfs", "/tmp"]
        if home and home != "/":
            flags += ["--tmpfs", home]
        for path in self._read_only(program, env):
            flags += ["--ro-bind", path, path]
        for path in self._writable(env):
            flags += ["--bind", path, path]
        flags += ["--bind", self.workspace, self.workspace]
        hidden = self._hidden()
        for path in hidden:
            flags += ["--tmpfs", path] if os.path.isdir(path) else ["--ro-bind", "/dev/null", path]
        if self.hooks_socket and os.path.exists(self.hooks_socket):
            flags += ["--bind", self.hooks_socket, os.path.join(c.state_dir, "hooks.sock")]
        for path in reversed(hidden):  # once every mount point in them is made
            flags += ["--remount-ro", path] if os.path.isdir(path) else []
        flags += ["--chdir", self.workspace]
        return [c.bwrap, *flags, "--", *argv]

    def _program(self, name: str, env: Mapping[str, str]) -> str:
        """The program's path as the relay finds it; raises SpawnError when there is none (inside
        the sandbox bwrap would only fail later, as an exit status)."""
        found: str | None = None
        if "/" in name:
            path = os.path.join(self.workspace, name)
            found = path if os.access(path, os.X_OK) and not os.path.isdir(path) else None
        elif name:
            found = shutil.which(name, path=env.get("PATH"))
        if found is None:
            raise SpawnError(f"cannot start {name!r}: no such program")
        return found

    def _read_only(self, program: str, env: Mapping[str, str]) -> list[str]:
        assert self.confinement is not None
        wanted = [*self.confinement.read_only, *_path_dirs(env.get("PATH", ""))]
        system = [os.path.realpath(p) for p in SYSTEM_READ_ONLY]
        homes = {os.path.realpath(h) for h in (env.get("HOME", ""), str(Path.home())) if h}
        return [
            path
            for path in _existing([*wanted, *install_roots(program)])
            if not any(_within(os.path.realpath(path), s) for s in system)
            and not any(_within(home, os.path.realpath(path)) for home in homes)  # never a home
        ]

    def _writable(self, env: Mapping[str, str]) -> list[str]:
        """The agent's config and caches; its directories are made when missing (mode 0700),
        so what it writes there outlives the session."""
        home = env.get("HOME", "")
        directories = [os.path.join(home, p) for p in self.paths.home] if home else []
        for variable, below in self.paths.env:
            if env.get(variable):
                directories.append(os.path.join(env[variable], below))
        for directory in directories:
            with contextlib.suppress(OSError):
                os.makedirs(directory, mode=0o700, exist_ok=True)
        files = [os.path.join(home, p) for p in self.paths.home_files] if home else []
        return _existing([*directories, *files])

    def _hidden(self) -> list[str]:
        """Paths to cover: hidden ones, and other workspaces (only those a bind above shows)."""
        assert self.confinement is not None
        mine = Path(self.workspace)
        wanted = [*self.confinement.hidden, *self.others]
        # A path that is the workspace or holds it cannot be hidden without hiding the workspace.
        kept = [p for p in wanted if Path(p) != mine and Path(p) not in mine.parents]
        return sorted(_existing(kept), key=lambda p: len(Path(p).parts))  # outer ones first


def install_roots(executable: str) -> list[str]:
    """The directories to show for `executable`, as named and as its symlinks resolve: for a
    program installed by npm the directory holding its outermost node_modules (its modules and
    binaries come along); for one in `PREFIX/bin` with a `PREFIX/lib` the prefix (a Python or
    a virtualenv), unless that prefix is `~/.local` or a home (they hold the server's data and other
    programs' secrets); else the directory it is in."""
    roots = []
    for candidate in (Path(executable).absolute(), Path(executable).resolve()):
        parts, directory = candidate.parts, candidate.parent
        if "node_modules" in parts:
            roots.append(str(Path(*parts[: parts.index("node_modules")])))
        elif (
            directory.name == "bin"
            and (directory.parent / "lib").is_dir()
            and not _user_data_prefix(directory.parent)
        ):
            roots.append(str(directory.parent))
        else:
            roots.append(str(directory))
    return roots


def _base_flags() -> list[str]:
    return [
        *NAMESPACES,
        "--share-net",
        "--die-with-parent",
        "--cap-drop",
        "ALL",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ]


def _system_binds() -> list[str]:
    flags: list[str] = []
    resolver = os.path.realpath("/etc/resolv.conf")  # systemd-resolved keeps it under /run
    if not resolver.startswith("/etc/") and os.path.exists(resolver):
        flags += ["--ro-bind", os.path.dirname(resolver), os.path.dirname(resolver)]
    for path in SYSTEM_READ_ONLY:
        if os.path.islink(path):  # /bin -> usr/bin on merged-/usr systems
            flags += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            flags += ["--ro-bind", path, path]
    return flags


def _user_data_prefix(prefix: Path) -> bool:
    """A home directory or a `.local` (~/.local/bin beside ~/.local/lib): prefixes that hold the
    user's data (the server's database and console token, keyrings), not one program."""
    real = Path(os.path.realpath(prefix))
    return real.name == ".local" or real == Path(os.path.realpath(Path.home()))


def _within(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def _path_dirs(path: str) -> list[str]:
    return [p for p in path.split(os.pathsep) if os.path.isabs(p)]


def _existing(paths: Sequence[str]) -> list[str]:
    """Absolute, existing, each once, in order."""
    out: list[str] = []
    for path in paths:
        if path and os.path.isabs(path) and os.path.exists(path) and path not in out:
            out.append(os.path.normpath(path))
    return out
