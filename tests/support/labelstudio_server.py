"""A real Label Studio 1.23.2 server for the test suite.

`scripts/ensure-labelstudio` installs Label Studio into its own virtualenv and migrates a
template data folder once, with a known user; it prints `MODQUEUE_TEST_LS_HOME=...`, which
`scripts/test` exports. `LabelStudioServer` copies that template into a temporary folder,
starts the server on a free loopback port in a clean environment and waits for it:

    with LabelStudioServer() as ls:
        headers = {"Authorization": f"Token {ls.legacy_token}"}
        pat = ls.personal_access_token()  # a JWT refresh token
        access = ls.access_token()        # Bearer token, valid 5 minutes
        ls.restart()                      # same port, same data

Only the standard library is used: `label_studio_sdk` is heavy and `httpx` belongs to the
code under test.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

__all__ = [
    "LabelStudioCredentials",
    "LabelStudioServer",
    "LabelStudioServerError",
    "labelstudio_home",
]

HOME_ENV_VAR = "MODQUEUE_TEST_LS_HOME"
TEMPLATE_DIR_NAME = "template-data"
TEMPLATE_STAMP_NAME = "modqueue-template.json"
PAT_FILE_NAME = "modqueue-personal-access-token"

_LOG_TAIL_LINES = 40


class LabelStudioServerError(RuntimeError):
    """The Label Studio test server could not be prepared, started or reached."""


@dataclass(frozen=True)
class LabelStudioCredentials:
    """The template's user, as written by `scripts/ensure-labelstudio`."""

    username: str
    email: str
    password: str
    legacy_token: str


def labelstudio_home() -> Path:
    """Return the folder `scripts/ensure-labelstudio` prepared (`MODQUEUE_TEST_LS_HOME`).

    Raises `RuntimeError` naming the fix when the variable is unset or the folder is not
    ready.
    """
    value = os.environ.get(HOME_ENV_VAR, "").strip()
    hint = 'run scripts/test, which installs Label Studio (or eval "$(scripts/ensure-labelstudio)")'
    if not value:
        raise RuntimeError(f"{HOME_ENV_VAR} is not set: {hint}")
    home = Path(value)
    if not (home / "venv" / "bin" / "label-studio").is_file():
        raise RuntimeError(f"{HOME_ENV_VAR}={home}: no venv/bin/label-studio there: {hint}")
    if not (home / TEMPLATE_DIR_NAME / TEMPLATE_STAMP_NAME).is_file():
        raise RuntimeError(f"{HOME_ENV_VAR}={home}: template data folder not initialised: {hint}")
    return home


def read_credentials(home: Path) -> LabelStudioCredentials:
    """Read the template user's credentials from the stamp file in `home`."""
    stamp = home / TEMPLATE_DIR_NAME / TEMPLATE_STAMP_NAME
    try:
        raw = json.loads(stamp.read_text(encoding="utf-8"))
        return LabelStudioCredentials(
            username=str(raw["username"]),
            email=str(raw["email"]),
            password=str(raw["password"]),
            legacy_token=str(raw["legacy_token"]),
        )
    except (OSError, ValueError, KeyError) as exc:
        raise LabelStudioServerError(f"{stamp}: unreadable template stamp ({exc!r})") from exc


def free_port() -> int:
    """Return a loopback TCP port that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_environment(
    home: Path, data_dir: Path, credentials: LabelStudioCredentials
) -> dict[str, str]:
    """The whole environment Label Studio runs with.

    Label Studio reads `LABEL_STUDIO_X`, then `HEARTEX_X`, then bare `X`, so stray
    `USERNAME`, `PASSWORD`, `PORT`, `HOST` or `DEBUG` variables would leak into it.
    """
    venv_bin = home / "venv" / "bin"
    fake_home = data_dir.parent / "home"
    fake_home.mkdir(parents=True, exist_ok=True)
    return {
        "PATH": f"{venv_bin}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(fake_home),
        "LANG": "C.UTF-8",
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
        "SSRF_PROTECTION_ENABLED": "false",
        "LABEL_STUDIO_USERNAME": credentials.username,
        "LABEL_STUDIO_PASSWORD": credentials.password,
        "LABEL_STUDIO_USER_TOKEN": credentials.legacy_token,
    }


def _socket_inodes(pid: int) -> set[str]:
    inodes: set[str] = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    with contextlib.suppress(OSError):
        for fd in fd_dir.iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
    return inodes


def listening_ports(pid: int) -> set[int]:
    """TCP ports process `pid` listens on (Linux `/proc`)."""
    inodes = _socket_inodes(pid)
    ports: set[int] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


class LabelStudioServer:
    """A Label Studio server on a private copy of the template data folder.

    `start()` (or `with`) copies the template, starts `label-studio start` on a free
    loopback port and waits for `GET /health/`. `restart()` keeps port and data. `close()`
    (or leaving the `with` block) stops it and removes the temporary folder it created.
    """

    def __init__(
        self,
        home: Path | None = None,
        *,
        workdir: Path | None = None,
        port: int | None = None,
        startup_timeout: float = 240.0,
        stop_timeout: float = 10.0,
    ) -> None:
        self.home: Path = home if home is not None else labelstudio_home()
        self.credentials: LabelStudioCredentials = read_credentials(self.home)
        self._owns_workdir = workdir is None
        self.workdir: Path = (
            workdir
            if workdir is not None
            else Path(tempfile.mkdtemp(prefix="modqueue-labelstudio-"))
        )
        self.data_dir: Path = self.workdir / "data"
        self.log_path: Path = self.workdir / "label-studio.log"
        self._requested_port = port
        self.port: int = port if port is not None else 0
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._pat: str | None = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Self:
        """Start the server (copying the template on the first start) and wait for it."""
        if self.running:
            return self
        if not self.data_dir.exists():
            self.workdir.mkdir(parents=True, exist_ok=True)
            shutil.copytree(self.home / TEMPLATE_DIR_NAME, self.data_dir)
        if self.port:
            self._start_on(self.port)
            return self
        # A free port may be taken between our check and the server's bind; Label Studio
        # then silently moves on to the next port, which `_start_on` detects.
        last_error: LabelStudioServerError | None = None
        for _attempt in range(3):
            try:
                self._start_on(free_port())
                return self
            except _PortTakenError as exc:
                last_error = exc
        assert last_error is not None
        raise last_error

    def _start_on(self, port: int) -> None:
        if _port_in_use(port):
            raise _PortTakenError(
                f"port {port} is already in use; Label Studio would move to another one"
            )
        env = clean_environment(self.home, self.data_dir, self.credentials)
        command = [
            str(self.home / "venv" / "bin" / "label-studio"),
            "start",
            "--no-browser",
            "--internal-host",
            "127.0.0.1",
            "--port",
            str(port),
            "--data-dir",
            str(self.data_dir),
        ]
        with self.log_path.open("ab") as log:
            log.write(
                f"\n===== {time.strftime('%H:%M:%S')} starting on port {port} =====\n".encode()
            )
            log.flush()
            self._process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.port = port
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise

    def _wait_until_healthy(self) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = process.poll()
            if code is not None:
                raise LabelStudioServerError(
                    f"label-studio exited with code {code} while starting on port {self.port}"
                    f"\n{self.log_tail()}"
                )
            # Label Studio silently moves to the next port when the one asked for is busy.
            ports = listening_ports(process.pid)
            if ports and self.port not in ports:
                raise _PortTakenError(
                    f"label-studio listens on {sorted(ports)} instead of port {self.port}"
                    f" (it was taken)\n{self.log_tail()}"
                )
            if self._health_ok():
                if self.port not in listening_ports(process.pid):
                    raise _PortTakenError(
                        f"something answers on port {self.port} but not our label-studio"
                        f"\n{self.log_tail()}"
                    )
                return
            if time.monotonic() > deadline:
                raise LabelStudioServerError(
                    f"label-studio did not answer GET {self.url}/health/ within "
                    f"{self.startup_timeout:.0f} s\n{self.log_tail()}"
                )
            time.sleep(0.25)

    def _health_ok(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health/", timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def stop(self) -> None:
        """Stop the server: SIGTERM to its process group, SIGKILL after `stop_timeout`."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 15)
            try:
                process.wait(timeout=self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, 9)
                process.wait(timeout=self.stop_timeout)
        # Anything it left in its session (it should not fork) goes too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, 9)

    def restart(self) -> Self:
        """Stop, then start again on the same port with the same data folder."""
        port = self.port
        self.stop()
        deadline = time.monotonic() + self.stop_timeout
        while _port_in_use(port) and time.monotonic() < deadline:
            time.sleep(0.1)
        self._start_on(port)
        return self

    def close(self) -> None:
        """Stop the server and remove the temporary folder it was given by default."""
        self.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # -- facts ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. `http://127.0.0.1:41234`."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def username(self) -> str:
        return self.credentials.username

    @property
    def email(self) -> str:
        return self.credentials.email

    @property
    def password(self) -> str:
        return self.credentials.password

    @property
    def legacy_token(self) -> str:
        """The admin's legacy API token: send it as `Authorization: Token <token>`."""
        return self.credentials.legacy_token

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines of the server's log, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return f"(no log at {self.log_path})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of {self.log_path} ---\n{tail}"

    # -- HTTP ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        bearer: str | None = None,
        json_body: Any = None,
        timeout: float = 30.0,
    ) -> tuple[int, Any]:
        """Call the API; return `(status, decoded JSON or None)` without raising on 4xx/5xx.

        `token` sends `Authorization: Token ...` (legacy), `bearer` sends
        `Authorization: Bearer ...` (a JWT access token).
        """
        headers = {"Accept": "application/json"}
        if token is not None:
            headers["Authorization"] = f"Token {token}"
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        data: bytes | None = None
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, _decode(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, _decode(exc.read())

    def _api(self, method: str, path: str, *, expect: tuple[int, ...], **kwargs: Any) -> Any:
        status, body = self.request(method, path, **kwargs)
        if status not in expect:
            raise LabelStudioServerError(f"{method} {path}: HTTP {status}: {body!r}")
        return body

    def personal_access_token(self) -> str:
        """The admin's personal access token (a JWT refresh token), created on first use.

        Label Studio (`POST /api/token/`) creates one per user and answers 409 once it
        exists; it never shows the full token again, so it is kept in the data folder and
        survives `restart()`.
        """
        if self._pat is not None:
            return self._pat
        pat_file = self.data_dir / PAT_FILE_NAME
        if pat_file.is_file():
            self._pat = pat_file.read_text(encoding="utf-8").strip()
            return self._pat
        body = self._api(
            "POST", "/api/token/", expect=(200, 201), token=self.legacy_token, json_body={}
        )
        pat = str(body["token"])
        pat_file.write_text(pat, encoding="utf-8")
        pat_file.chmod(0o600)
        self._pat = pat
        return pat

    def access_token(self, refresh_token: str | None = None) -> str:
        """A short-lived (5 min) JWT access token from `POST /api/token/refresh/`.

        Send it as `Authorization: Bearer <access>`.
        """
        refresh = refresh_token if refresh_token is not None else self.personal_access_token()
        body = self._api(
            "POST", "/api/token/refresh/", expect=(200,), json_body={"refresh": refresh}
        )
        return str(body["access"])

    def create_user(self, email: str, password: str) -> str:
        """Sign an annotator up in the admin's organisation; return their legacy token.

        The way an admin adds a person: the organisation's invite link (`GET /api/invite`,
        as the admin), then the signup form at that link (CSRF cookie, form post); the
        token is read with the new user's session. Label Studio's `/api/users/` takes no
        password, so a user made there could not log in to the web page. Raises
        `LabelStudioServerError` unless the new user is a member of the admin's
        organisation (and so sees its projects).
        """
        invite = self._api("GET", "/api/invite", expect=(200,), token=self.legacy_token)
        admin = self._api("GET", "/api/current-user/whoami", expect=(200,), token=self.legacy_token)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        signup = f"{self.url}{invite['invite_url']}"
        with opener.open(signup, timeout=30) as response:
            response.read()
        csrf = next((c.value for c in jar if c.name == "csrftoken"), None)
        if csrf is None:
            raise LabelStudioServerError(f"GET {signup}: no csrftoken cookie")
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": csrf, "email": email, "password": password}
        ).encode()
        request = urllib.request.Request(
            signup, data=form, headers={"Referer": signup, "X-CSRFToken": csrf}, method="POST"
        )
        with opener.open(request, timeout=30) as response:
            page = response.read().decode("utf-8", errors="replace")
        if not any(c.name == "sessionid" for c in jar):
            raise LabelStudioServerError(
                f"signup of {email} failed (no session); page starts: {page[:500]!r}"
            )
        with opener.open(f"{self.url}/api/current-user/token", timeout=30) as response:
            body = _decode(response.read())
        with opener.open(f"{self.url}/api/current-user/whoami", timeout=30) as response:
            user = _decode(response.read())
        if user.get("active_organization") != admin.get("active_organization"):
            raise LabelStudioServerError(
                f"{email} joined organisation {user.get('active_organization')!r}, not the "
                f"admin's {admin.get('active_organization')!r}"
            )
        return str(body["token"])


class _PortTakenError(LabelStudioServerError):
    pass


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")
