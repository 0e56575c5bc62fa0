"""Real OpenStack Keystone instances on 127.0.0.1, each acting as a separate cloud.

Keystone lives in its own virtualenv (``.keystone-venv``, installed by
``scripts/keystone-venv.sh``; its pins differ from ours) and is served by
gunicorn's sync worker, which closes every connection after its response: a
server that drops idle keep-alive connections behind keystoneauth's pool makes
the token request fail with a connection reset.

Setting up one instance with ``keystone-manage`` costs ~9 s, mostly imports, so
:func:`prepare` runs ``db_sync`` once into a template database, copies it per
instance, writes fresh fernet and credential keys per instance (a key is 32
random bytes, base64: exactly what ``fernet_setup`` writes) and runs the
``bootstrap`` of all instances at once. ``password_hash_rounds = 4`` is set
before bootstrap: the default bcrypt cost makes each password check ~1.3 s.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
VENV = Path(os.environ.get("KEYSTONE_VENV", REPO / ".keystone-venv"))

CONF = """\
[DEFAULT]
debug = false
[database]
connection = sqlite:///{dir}/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = {dir}/fernet-keys
[fernet_receipts]
key_repository = {dir}/fernet-keys
[credential]
key_repository = {dir}/credential-keys
[identity]
password_hash_rounds = 4
"""


def missing() -> str | None:
    """Why real Keystone cannot run here, or None when it can."""
    for tool in ("keystone-manage", "gunicorn"):
        if not (VENV / "bin" / tool).exists():
            return f"{VENV}/bin/{tool} not found: run scripts/keystone-venv.sh"
    return None


def _env(conf: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_KEYSTONE_CONFIG_FILES"] = str(conf)
    env["PYTHONWARNINGS"] = "ignore"
    return env


def _manage(conf: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(VENV / "bin" / "keystone-manage"), "--config-file", str(conf), *args],
        env=_env(conf),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(proc: subprocess.Popen[str], what: str) -> None:
    out, _ = proc.communicate(timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"keystone-manage {what} failed: {out[-2000:]}")


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies (Linux), so a
    killed pytest never leaves Keystone servers behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_keys(directory: Path) -> None:
    """A fernet key repository: staged key 0 and primary key 1, as fernet_setup leaves it."""
    directory.mkdir(mode=0o700)
    for name in ("0", "1"):
        path = directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(base64.urlsafe_b64encode(os.urandom(32)))


@dataclass
class Keystone:
    """One Keystone served on its own port, with its own database and keys."""

    name: str
    directory: Path
    port: int
    admin_password: str
    proc: subprocess.Popen[bytes] | None = None
    app_credential: tuple[str, str] | None = None
    demo_password: str = field(default_factory=lambda: "demo-" + secrets.token_hex(8))

    @property
    def conf(self) -> Path:
        return self.directory / "keystone.conf"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3"

    def start(self) -> None:
        """Start gunicorn; returns at once (see :meth:`wait_ready`)."""
        log = open(self.directory / "server.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [
                str(VENV / "bin" / "gunicorn"),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--worker-class",
                "sync",
                "--timeout",
                "120",
                "--no-control-socket",
                "--access-logfile",
                str(self.directory / "access.log"),
                "--pythonpath",
                str(HERE),
                "keystone_wsgi:application",
            ],
            env=_env(self.conf),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, before exec
        )
        log.close()

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(self.url, timeout=5) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        tail = (self.directory / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"keystone {self.name} did not start on {self.url}: {tail}")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.proc = None

    def token_requests(self) -> int:
        """Tokens issued so far (``POST /v3/auth/tokens`` answered 201) per the access log."""
        path = self.directory / "access.log"
        if not path.exists():
            return 0
        return sum(
            1
            for line in path.read_text().splitlines()
            if '"POST /v3/auth/tokens ' in line and '" 201 ' in line
        )


def prepare(base: Path, names: list[str]) -> list[Keystone]:
    """Initialise one Keystone per name under ``base`` (not started yet)."""
    template = base / "template"
    template.mkdir(parents=True)
    (template / "keystone.conf").write_text(CONF.format(dir=template))
    _finish(_manage(template / "keystone.conf", "db_sync"), "db_sync")
    instances = []
    for name in names:
        directory = base / name
        directory.mkdir()
        shutil.copy(template / "keystone.db", directory / "keystone.db")
        _write_keys(directory / "fernet-keys")
        _write_keys(directory / "credential-keys")
        (directory / "keystone.conf").write_text(CONF.format(dir=directory))
        instances.append(
            Keystone(name, directory, _free_port(), admin_password="admin-" + secrets.token_hex(8))
        )
    boots = []
    for ks in instances:
        boots.append(
            _manage(
                ks.conf,
                "bootstrap",
                "--bootstrap-password",
                ks.admin_password,
                "--bootstrap-public-url",
                ks.url,
                "--bootstrap-region-id",
                "RegionOne",
            )
        )
    for ks, proc in zip(instances, boots, strict=True):
        _finish(proc, f"bootstrap ({ks.name})")
    return instances


def provision(ks: Keystone) -> None:
    """Through Keystone's API: a second region (with its identity endpoint), a project
    ``demo`` with a user ``demo`` (member), and an application credential of that user."""
    from keystoneauth1 import session as ks_session
    from keystoneauth1.identity import v3

    admin = ks_session.Session(
        auth=v3.Password(
            auth_url=ks.url,
            username="admin",
            password=ks.admin_password,
            project_name="admin",
            user_domain_id="default",
            project_domain_id="default",
        )
    )

    def post(path: str, body: dict) -> dict:
        return admin.post(ks.url + path, json=body).json()

    post("/regions", {"region": {"id": "RegionTwo"}})
    service = admin.get(ks.url + "/services?type=identity").json()["services"][0]
    post(
        "/endpoints",
        {
            "endpoint": {
                "service_id": service["id"],
                "interface": "public",
                "region_id": "RegionTwo",
                "url": ks.url,
            }
        },
    )
    project = post("/projects", {"project": {"name": "demo", "domain_id": "default"}})["project"]
    user = post(
        "/users",
        {
            "user": {
                "name": "demo",
                "password": ks.demo_password,
                "domain_id": "default",
                "default_project_id": project["id"],
            }
        },
    )["user"]
    role = admin.get(ks.url + "/roles?name=member").json()["roles"][0]
    admin.put(f"{ks.url}/projects/{project['id']}/users/{user['id']}/roles/{role['id']}")
    demo = ks_session.Session(
        auth=v3.Password(
            auth_url=ks.url,
            username="demo",
            password=ks.demo_password,
            project_name="demo",
            user_domain_id="default",
            project_domain_id="default",
        )
    )
    cred = demo.post(
        f"{ks.url}/users/{user['id']}/application_credentials",
        json={"application_credential": {"name": "edgeshade-test"}},
    ).json()["application_credential"]
    ks.app_credential = (cred["id"], cred["secret"])
