"""Starts and stops a real Kubernetes control plane on loopback for the tests: etcd, kube-apiserver,
kube-controller-manager, kube-scheduler and kwok (the kubelets of fake nodes), built from the Go modules pinned
beside this file (build.sh). One place for pytest (ControlPlane) and molecule (`up` / `down` on the command line).

    python tests/controlplane/launcher.py up --dir DIR [--nodes nodes.json]   # returns once the API is ready
    python tests/controlplane/launcher.py down --dir DIR                      # stops what `up` started

DIR receives the kubeconfig, the certificates, each component's log (kept for a failing test) and supervisor.pid.
Every wait is bounded; a component that exits early fails the start with the tail of its log.
"""

import argparse
import ctypes
import datetime
import ipaddress
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

HERE = Path(__file__).resolve().parent
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"  # the first address of SERVICE_CIDR: the `kubernetes` Service
START_TIMEOUT = 300  # bounded, and generous: on a loaded 2-core machine the API server has taken minutes
STOP_TIMEOUT = 20
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def build(cache_root=None):
    """The directory of the built binaries (build.sh builds only what the cache lacks)."""
    cmd = [str(HERE / "build.sh")] + ([str(cache_root)] if cache_root else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"control plane build failed:\n{proc.stderr[-4000:]}")
    return Path(proc.stdout.strip().splitlines()[-1])


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def log_tail(path, lines=40):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class _PKI:
    """A throwaway CA for one control plane: serving certs, client certs, the service-account key pair."""

    def __init__(self, root):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        now = datetime.datetime.now(datetime.timezone.utc)
        self._validity = (now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=2))
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "llmaas-test-ca")])
        self.ca_cert = self._sign(name, self.ca_key.public_key(), ca=True, issuer=name)
        self._write("ca", self.ca_cert, self.ca_key)
        sa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (root / "sa.key").write_bytes(sa.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                                       serialization.NoEncryption()))
        (root / "sa.pub").write_bytes(sa.public_key().public_bytes(serialization.Encoding.PEM,
                                                                   serialization.PublicFormat.SubjectPublicKeyInfo))

    def _sign(self, subject, public_key, ca=False, issuer=None, sans=None, server=False):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer or self.ca_cert.subject)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(self._validity[0]).not_valid_after(self._validity[1])
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            usage = x509.ExtendedKeyUsageOID.SERVER_AUTH if server else x509.ExtendedKeyUsageOID.CLIENT_AUTH
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(self.ca_key, hashes.SHA256())

    def _write(self, name, cert, key):
        (self.root / f"{name}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (self.root / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                                  serialization.PrivateFormat.PKCS8,
                                                                  serialization.NoEncryption()))
        return self.root / f"{name}.crt", self.root / f"{name}.key"

    def issue(self, name, common_name, organization=None, server_names=None):
        key = ec.generate_private_key(ec.SECP256R1())
        attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
        if organization:
            attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
        sans = None
        if server_names:
            sans = [x509.IPAddress(ipaddress.ip_address(n)) if n[0].isdigit() else x509.DNSName(n)
                    for n in server_names]
        cert = self._sign(x509.Name(attrs), key.public_key(), sans=sans, server=bool(server_names))
        return self._write(name, cert, key)


class ControlPlane:
    """One real control plane under `workdir`. start() returns once the API server is ready and every
    component runs; stop() always ends every process it started."""

    def __init__(self, workdir, bindir=None, nodes=None):
        self.dir = Path(workdir).resolve()
        self.bindir = Path(bindir) if bindir else None
        self.nodes = nodes or []
        self.procs = {}
        self.kubeconfig = self.dir / "kubeconfig"
        self.server = None

    # --- lifecycle -------------------------------------------------------------------------------------------
    def start(self, timeout=START_TIMEOUT):
        self.dir.mkdir(parents=True, exist_ok=True)
        self.bindir = self.bindir or build()
        deadline = time.monotonic() + timeout
        try:
            self._start(deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, deadline):
        pki = _PKI(self.dir / "pki")
        api_port, etcd_port, peer_port = free_port(), free_port(), free_port()
        self.server = f"https://127.0.0.1:{api_port}"
        serving = pki.issue("apiserver", "kube-apiserver",
                            server_names=["127.0.0.1", "localhost", SERVICE_IP, "kubernetes",
                                          "kubernetes.default", "kubernetes.default.svc",
                                          "kubernetes.default.svc.cluster.local"])
        kubeconfigs = {
            user: self._write_kubeconfig(user, *pki.issue(user, cn, org))
            for user, cn, org in [("admin", "llmaas-test-admin", "system:masters"),
                                  ("controller-manager", "system:kube-controller-manager", None),
                                  ("scheduler", "system:kube-scheduler", None),
                                  # kwok patches node and pod status and renews leases as every kubelet does;
                                  # the Node authorizer is off here, so it acts as an administrator.
                                  ("kwok", "llmaas-test-kwok", "system:masters")]
        }
        os.replace(kubeconfigs["admin"], self.kubeconfig)
        kubeconfigs["admin"] = self.kubeconfig

        self._spawn("etcd", [
            "--name=llmaas-test", f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{etcd_port}",
            f"--advertise-client-urls=http://127.0.0.1:{etcd_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=llmaas-test=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync=true",  # a throwaway store: durability buys nothing, fsync costs seconds
            "--log-level=warn",
        ])
        self._wait(lambda: http_ok(f"http://127.0.0.1:{etcd_port}/health"), "etcd", deadline)

        pki_dir = self.dir / "pki"
        self._spawn("kube-apiserver", [
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={api_port}",
            f"--tls-cert-file={serving[0]}", f"--tls-private-key-file={serving[1]}",
            f"--client-ca-file={pki_dir / 'ca.crt'}",
            f"--service-account-key-file={pki_dir / 'sa.pub'}",
            f"--service-account-signing-key-file={pki_dir / 'sa.key'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=RBAC",
            # PodSecurity, ResourceQuota and Priority are the admission the stack's promises depend on; the
            # rest of the default set stays on.
            "--enable-admission-plugins=PodSecurity,ResourceQuota,Priority,NamespaceLifecycle,ServiceAccount,"
            "DefaultStorageClass,MutatingAdmissionWebhook,ValidatingAdmissionWebhook,ValidatingAdmissionPolicy",
            "--allow-privileged=true",
            "--profiling=false",
        ])
        self._wait(lambda: self._api_ok("/readyz"), "kube-apiserver", deadline)

        ca = pki_dir / "ca.crt"
        self._spawn("kube-controller-manager", [
            f"--kubeconfig={kubeconfigs['controller-manager']}",
            f"--authentication-kubeconfig={kubeconfigs['controller-manager']}",
            f"--authorization-kubeconfig={kubeconfigs['controller-manager']}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
            f"--service-account-private-key-file={pki_dir / 'sa.key'}", f"--root-ca-file={ca}",
            "--use-service-account-credentials=true", "--leader-elect=false",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--controllers=*",
        ])
        self._spawn("kube-scheduler", [
            f"--kubeconfig={kubeconfigs['scheduler']}",
            f"--authentication-kubeconfig={kubeconfigs['scheduler']}",
            f"--authorization-kubeconfig={kubeconfigs['scheduler']}",
            "--bind-address=127.0.0.1", f"--secure-port={free_port()}", "--leader-elect=false",
        ])
        self._spawn("kwok", [
            f"--kubeconfig={kubeconfigs['kwok']}", f"--config={HERE / 'kwok.yaml'}",
            f"--server-address=127.0.0.1:{free_port()}",
        ])
        # The controllers are up once the token controller has given `default` its service account.
        self._wait(lambda: self._api_ok("/api/v1/namespaces/default/serviceaccounts/default"),
                   "kube-controller-manager (service account of namespace default)", deadline)
        for node in self.nodes:
            self.apply(node)
        if self.nodes:
            names = [n["metadata"]["name"] for n in self.nodes]
            self._wait(lambda: all(self._node_ready(n) for n in names), f"kwok nodes Ready ({names})", deadline)

    def stop(self):
        for name in reversed(list(self.procs)):
            proc, log = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for name in reversed(list(self.procs)):
            proc, log = self.procs.pop(name)
            try:
                proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT)
            log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- API -------------------------------------------------------------------------------------------------
    def request(self, method, path, body=None, content_type="application/json", timeout=30):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method,
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
        with urllib.request.urlopen(req, context=self._ssl(), timeout=timeout) as resp:  # noqa: S310 - loopback
            body = resp.read()
            return json.loads(body or b"null") if "json" in resp.headers.get("Content-Type", "") else body.decode()

    def apply(self, obj):
        """Server-side apply of one Node (the fake nodes), its status included."""
        kind_path = {"Node": "/api/v1/nodes"}[obj["kind"]]
        name = obj["metadata"]["name"]
        out = self.request("PATCH", f"{kind_path}/{name}?fieldManager=llmaas-test&force=true", obj,
                           content_type="application/apply-patch+yaml")
        if "status" in obj:  # capacity and allocatable are status: a kubelet reports them, here we do once
            self.request("PATCH", f"{kind_path}/{name}/status?fieldManager=llmaas-test&force=true",
                         {"apiVersion": "v1", "kind": obj["kind"], "metadata": {"name": name},
                          "status": obj["status"]}, content_type="application/apply-patch+yaml")
        return out

    def version(self):
        return self.request("GET", "/version")["gitVersion"]

    # --- internals -------------------------------------------------------------------------------------------
    def _ssl(self):
        pki = self.dir / "pki"
        ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))
        return ctx

    def _api_ok(self, path):
        try:
            self.request("GET", path, timeout=5)
            return True
        except Exception:  # noqa: BLE001 - any failure means "not yet"
            return False

    def _node_ready(self, name):
        try:
            node = self.request("GET", f"/api/v1/nodes/{name}")
        except Exception:  # noqa: BLE001
            return False
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))

    def _write_kubeconfig(self, user, cert, key):
        path = self.dir / f"kubeconfig-{user}"
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "llmaas-test",
            "clusters": [{"name": "llmaas-test", "cluster": {"server": self.server,
                                                              "certificate-authority": str(self.dir / "pki/ca.crt")}}],
            "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
            "contexts": [{"name": "llmaas-test", "context": {"cluster": "llmaas-test", "user": user}}],
        }
        path.write_text(json.dumps(config, indent=2))
        return path

    def _spawn(self, name, args):
        log = open(self.dir / f"{name}.log", "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        proc = subprocess.Popen([str(self.bindir / name), *args], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=self.dir, preexec_fn=_die_with_parent)
        self.procs[name] = (proc, log)

    def _wait(self, ready, what, deadline):
        while time.monotonic() < deadline:
            for name, (proc, _) in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode} while waiting for {what}:\n"
                                       f"{log_tail(self.dir / f'{name}.log')}")
            if ready():
                return
            time.sleep(0.25)
        raise TimeoutError(f"timed out waiting for {what}; logs in {self.dir}")


def _die_with_parent():
    """In the child before exec: SIGTERM when the process that started it dies, even by SIGKILL (a killed pytest
    or supervisor must not leave etcd and the API server running)."""
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
            return resp.status == 200
    except Exception:  # noqa: BLE001
        return False


def until(probe, what, timeout, proc=None, log=None, name="the process"):
    """probe()'s first truthy result within timeout seconds; fails at once, with the log's tail, if proc exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{name} exited with {proc.returncode} while waiting for {what}:\n"
                                 f"{log_tail(log, 30)}")
        found = probe()
        if found:
            return found
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f":\n{log_tail(log, 30)}" if log else ""))


# --- command line (molecule create/destroy) ----------------------------------------------------------------------
def _up(args):
    """Start the control plane in a detached supervisor that holds it until `down` (SIGTERM)."""
    workdir = Path(args.dir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    ready, failed = workdir / "ready", workdir / "failed"
    for marker in (ready, failed):
        marker.unlink(missing_ok=True)
    bindir = build()  # in the foreground: a build failure is the caller's error, with its message
    nodes = json.loads(Path(args.nodes).read_text()) if args.nodes else []
    if os.fork() == 0:  # the supervisor: detached, so the caller (an Ansible task) does not wait on its output
        os.setsid()
        with open(workdir / "supervisor.log", "w", encoding="utf-8") as out, open(os.devnull) as null:
            os.dup2(null.fileno(), 0)
            os.dup2(out.fileno(), 1)
            os.dup2(out.fileno(), 2)
        plane = ControlPlane(workdir, bindir, nodes)
        signal.signal(signal.SIGTERM, lambda *_: (plane.stop(), os._exit(0)))
        try:
            plane.start()
        except BaseException as err:  # noqa: BLE001 - reported through the marker file
            failed.write_text(str(err))
            os._exit(1)
        (workdir / "supervisor.pid").write_text(str(os.getpid()))
        ready.write_text(plane.version())
        while True:
            signal.pause()
    deadline = time.monotonic() + START_TIMEOUT + 10
    while time.monotonic() < deadline:
        if ready.exists():
            print(f"control plane {ready.read_text()} ready; kubeconfig {workdir / 'kubeconfig'}")
            return 0
        if failed.exists():
            print(failed.read_text(), file=sys.stderr)
            return 1
        time.sleep(0.25)
    print(f"control plane did not come up within {START_TIMEOUT}s; logs in {workdir}", file=sys.stderr)
    return 1


def _down(args):
    pidfile = Path(args.dir).resolve() / "supervisor.pid"
    if not pidfile.exists():
        print("no control plane running there")
        return 0
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pidfile.unlink()
        return 0
    deadline = time.monotonic() + STOP_TIMEOUT * 2
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            pidfile.unlink()
            print("control plane stopped")
            return 0
        time.sleep(0.25)
    os.kill(-pid, signal.SIGKILL)  # its process group: the supervisor and every component
    pidfile.unlink()
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up")
    up.add_argument("--dir", required=True)
    up.add_argument("--nodes", help="JSON list of Node objects to register (with status capacity/allocatable)")
    down = sub.add_parser("down")
    down.add_argument("--dir", required=True)
    args = parser.parse_args(argv)
    return _up(args) if args.command == "up" else _down(args)


if __name__ == "__main__":
    sys.exit(main())
