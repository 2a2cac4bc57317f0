"""The real Gateway API Inference Extension endpoint picker (cmd/epp of the release images.epp pins, built from
tests/controlplane/epp) runs as each rendered EPP Deployment runs it, against the real API server: same flags,
same config file (the rendered ConfigMap), same RBAC (a token of the rendered ServiceAccount, bound by the rendered
Role and ClusterRole). Only what a process on this machine cannot share with a pod is replaced: the listening
ports (free ones), the mount path of the config file (a local directory) and the kubeconfig.

Promises tested: the picker accepts the rendered config (feature gates, plugins, flow control: GIE decodes it
strictly and exits on anything it does not know), its RBAC lets it watch its InferencePool, InferenceObjectives
and pods, and it reaches each Ready pod of the pool at the pool's targetPorts and reads its metrics there. Pods
are made from the rendered vLLM pod template and made Running/Ready by kwok; no container network exists, so the
test gives each pod a loopback address where a stand-in answers vLLM's metrics on the template's containerPort.
A pool whose targetPorts miss the port vLLM listens on leaves the picker without a fresh endpoint: the test fails.
"""

import os
import subprocess
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config, dynamic

from controlplane.launcher import free_port, log_tail, until
from render.conftest import INVENTORIES, ROOT, rendered  # noqa: F401  (session fixture: both stacks rendered)

pytestmark = pytest.mark.slow
TIMEOUT = 90
CRDS = Path(os.environ.get("LLMAAS_CRDS_DIR", ROOT.parent / "shared" / "crds")) / "gateway-api-inference-extension"
# The CRDs the picker watches. The v1 InferencePool is served from v1.0.0 on; ../shared keeps its newest copy
# under v1.6.0 only (SOURCES.md); InferenceObjective and InferenceModelRewrite were dropped after v1.5.0.
CRD_FILES = ["v1.6.0/inference.networking.k8s.io_inferencepools.yaml",
             "v1.5.0/inference.networking.x-k8s.io_inferenceobjectives.yaml",
             "v1.5.0/inference.networking.x-k8s.io_inferencemodelrewrites.yaml"]
# Flags whose value is a port the picker listens on (GIE v1.5.0 pkg/epp/server/options.go).
PORT_FLAGS = ("--grpc-port", "--grpc-health-port", "--metrics-port")
PODS = 2


@pytest.fixture(scope="module")
def api(control_plane):
    return config.new_client_from_config(config_file=str(control_plane.kubeconfig))


@pytest.fixture(scope="module")
def crds(api):
    dyn = dynamic.DynamicClient(api)
    for name in CRD_FILES:
        _apply(dyn, yaml.safe_load((CRDS / name).read_text()))
    ext = client.ApiextensionsV1Api(api)
    for name in CRD_FILES:
        crd = yaml.safe_load((CRDS / name).read_text())["metadata"]["name"]
        _until(lambda crd=crd: any(c.type == "Established" and c.status == "True"
                                   for c in ext.read_custom_resource_definition(crd).status.conditions or []),
               f"CRD {crd} established")
    return dynamic.DynamicClient(api)  # discovery after the CRDs exist


@pytest.fixture(scope="module")
def scraper_token(api, crds):
    """A bearer token allowed to GET /metrics, as Prometheus's is: the picker checks it with a TokenReview and a
    SubjectAccessReview, which the rendered metrics-auth ClusterRole must allow it to create."""
    name = "epp-test-scraper"
    for obj in [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": name}},
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": name},
                 "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}]},
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": {"name": name},
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                 "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": name}]}]:
        _apply(crds, obj)
    return client.CoreV1Api(api).create_namespaced_service_account_token(
        name, name, {"spec": {"expirationSeconds": 3600}}).status.token


def _apply(dyn, obj):
    resource = dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    meta = obj["metadata"]
    return resource.server_side_apply(body=obj, name=meta["name"], namespace=meta.get("namespace"),
                                      field_manager="llmaas-test", force_conflicts=True)


def _until(probe, what, timeout=TIMEOUT, proc=None, log=None):
    return until(probe, what, timeout, proc, log, "the endpoint picker")


class _VllmMetrics(BaseHTTPRequestHandler):
    """Stands in for vLLM's /metrics: the gauges the picker reads by default (GIE v1.5.0 options.go)."""

    def do_GET(self):  # noqa: N802 - http.server's name
        gauges = {"vllm:num_requests_waiting": self.server.waiting, "vllm:num_requests_running": 1,
                  "vllm:kv_cache_usage_perc": 0.25}
        body = "".join(f"# TYPE {name} gauge\n{name} {value}\n" for name, value in gauges.items()).encode()
        self.send_response(200 if self.path == "/metrics" else 404)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _serve_metrics(address, port, waiting):
    server = ThreadingHTTPServer((address, port), _VllmMetrics)
    server.waiting = waiting
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _command(deployment, configmaps, workdir):
    """The rendered container's command line with its ports and config mounts made local; the ports chosen."""
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    mounts = {}
    for mount in container.get("volumeMounts", []):
        source = volumes[mount["name"]]
        assert "configMap" in source, f"the test cannot provide volume {mount['name']} ({sorted(source)})"
        local = workdir / "mounts" / mount["name"]
        local.mkdir(parents=True)
        for key, value in configmaps[source["configMap"]["name"]]["data"].items():
            (local / key).write_text(value)
        mounts[mount["mountPath"].rstrip("/")] = str(local)
    args, ports, pending = [], {}, None
    for arg in container.get("args", []):
        flag, eq, value = arg.partition("=")
        if pending:  # the value of "--flag value"
            ports[pending] = free_port()
            args.append(str(ports[pending]))
            pending = None
            continue
        if flag in PORT_FLAGS and not eq:
            pending = flag
        elif flag in PORT_FLAGS:
            ports[flag] = free_port()
            arg = f"{flag}={ports[flag]}"
        for path, local in mounts.items():
            arg = arg.replace(f"{path}/", f"{local}/")
        args.append(arg)
    return args, ports


def _env(deployment):
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif var.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[var["name"]] = deployment["metadata"]["namespace"]
        else:
            raise AssertionError(f"the test cannot provide env {var['name']} of the picker: {var}")
    return env


def _token_kubeconfig(api, control_plane, namespace, service_account, path):
    token = client.CoreV1Api(api).create_namespaced_service_account_token(
        service_account, namespace, {"spec": {"expirationSeconds": 3600}}).status.token
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "epp",
        "clusters": [{"name": "test", "cluster": {"server": control_plane.server,
                                                  "certificate-authority": str(control_plane.dir / "pki/ca.crt")}}],
        "users": [{"name": "epp", "user": {"token": token}}],
        "contexts": [{"name": "epp", "context": {"cluster": "test", "user": "epp"}}],
    }))


def _scrape(port, token):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - loopback
            return resp.read().decode()
    except OSError as err:  # not up yet, or refused (401/403: the rendered metrics-auth RBAC)
        return f"(scrape failed: {err})"


def _metric(text, metric, **labels):
    for line in text.splitlines():
        if line.startswith(metric + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def run_endpoint_picker(tree, api, dyn, control_plane, workdir, scraper_token):
    """Apply the rendered routing objects, make pods of the pool, run the picker as rendered; returns what it
    reported: {"log": path, "metrics": text, "pods": {endpoint name: waiting queue served}}."""
    picker = next(d for d in tree.objects(kind="Deployment", layer="routing")
                  if d["metadata"]["labels"].get("app.kubernetes.io/component") == "endpoint-picker")
    namespace = picker["metadata"]["namespace"]
    pool = next(p for p in tree.objects(kind="InferencePool") if p["spec"]["endpointPickerRef"]["name"]
                == picker["metadata"]["name"])
    for obj in ([n for n in tree.objects(kind="Namespace") if n["metadata"]["name"] == namespace]
                + tree.objects(kind="PriorityClass")
                + [o for kind in ("ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding",
                                  "ConfigMap", "InferencePool", "InferenceObjective") for o in
                   tree.objects(kind=kind, layer="routing")]):
        _apply(dyn, obj)

    # Pods of the pool from the rendered model server template, bound to a kwok node (scheduling is molecule's
    # concern), made Running and Ready by kwok; then given loopback addresses where a stand-in serves metrics.
    server = next(d for d in tree.objects(kind="Deployment", layer="serving")
                  if all(d["spec"]["template"]["metadata"]["labels"].get(k) == v
                         for k, v in pool["spec"]["selector"]["matchLabels"].items()))
    template = server["spec"]["template"]
    node = client.CoreV1Api(api).list_node().items[0].metadata.name
    core = client.CoreV1Api(api)
    stand_ins, served = [], {}
    try:
        for index in range(PODS):
            name = f"{server['metadata']['name']}-test-{index}"
            _apply(dyn, {"apiVersion": "v1", "kind": "Pod", "metadata": {**template["metadata"], "name": name,
                                                                         "namespace": namespace},
                         "spec": {**template["spec"], "nodeName": node}})
            _until(lambda name=name: (core.read_namespaced_pod(name, namespace).status.pod_ip or ""),
                   f"kwok to start pod {name}")
            address = f"127.77.0.{10 + index}"
            for container in template["spec"]["containers"]:
                for port in container.get("ports", []):
                    stand_ins.append(_serve_metrics(address, port["containerPort"], waiting=3 + index))
            control_plane.request("PATCH", f"/api/v1/namespaces/{namespace}/pods/{name}/status",
                                  {"status": {"podIP": address, "podIPs": [{"ip": address}]}},
                                  content_type="application/merge-patch+json")
            served[f"{name}-rank-0"] = 3 + index

        configmaps = {c["metadata"]["name"]: c for c in tree.objects(kind="ConfigMap", layer="routing")}
        args, ports = _command(picker, configmaps, workdir)
        kubeconfig = workdir / "kubeconfig"
        service_account = picker["spec"]["template"]["spec"]["serviceAccountName"]
        _token_kubeconfig(api, control_plane, namespace, service_account, kubeconfig)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(workdir), "KUBECONFIG": str(kubeconfig),
               **_env(picker)}
        log = workdir / "epp.log"
        with open(log, "w", encoding="utf-8") as out:
            proc = subprocess.Popen([str(control_plane.bindir / "epp"), *args], stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, cwd=workdir, env=env)
        try:
            # The picker's own report: one series per endpoint it holds, with the queue it read from that endpoint.
            last = {}

            def every_endpoint_read():
                last["text"] = text = _scrape(ports["--metrics-port"], scraper_token)
                last["seen"] = {e: _metric(text, "inference_pool_per_pod_queue_size", name=pool["metadata"]["name"],
                                           model_server_pod=e) for e in served}
                last["fresh"] = _metric(text, "inference_pool_ready_pods", name=pool["metadata"]["name"])
                return text if last["seen"] == served and last["fresh"] == len(served) else None
            try:
                metrics = _until(every_endpoint_read, "the picker to report every pod of its pool with the metrics "
                                 "served at the pool's targetPorts", proc=proc, log=log)
            except AssertionError as err:
                pool_lines = [line for line in last.get("text", "").splitlines()
                              if line.startswith(("inference_pool", "(scrape"))]
                raise AssertionError(f"{err}\nexpected per-pod queues {served} and {len(served)} ready pods; the "
                                     f"picker reported {last.get('seen')}, ready {last.get('fresh')}:\n"
                                     + "\n".join(pool_lines)) from None
            assert proc.poll() is None
            return {"log": log, "metrics": metrics, "pods": served}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
    finally:
        for stand_in in stand_ins:
            stand_in.shutdown()
            stand_in.server_close()
        for name in served:
            core.delete_namespaced_pod(name.removesuffix("-rank-0"), namespace, grace_period_seconds=0)


@pytest.mark.parametrize("inventory", INVENTORIES)
def test_endpoint_picker_runs_as_rendered_and_reads_every_pod_of_its_pool(inventory, rendered, api, crds,  # noqa: F811
                                                                          control_plane, scraper_token, tmp_path):
    report = run_endpoint_picker(rendered[inventory], api, crds, control_plane, tmp_path, scraper_token)
    text = report["log"].read_text()
    assert "Reconciling InferencePool" in text, log_tail(report["log"])
    # The tiers' priorities take effect only in flow control (GIE v1.5.0 cmd/epp/runner/runner.go): a gate the
    # config names must be the layer the picker runs, not a name it dropped.
    picker_config = next(yaml.safe_load(c["data"]["config.yaml"]) for c in
                         rendered[inventory].objects(kind="ConfigMap", layer="routing") if "config.yaml" in c["data"])
    if "flowControl" in picker_config.get("featureGates", []):
        assert "Initializing experimental Flow Control layer" in text, log_tail(report["log"])
