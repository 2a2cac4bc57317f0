"""The gateway layer as rendered for both inventories: what LiteLLM will actually run with, how secrets reach
it, and how the cost and prod profiles differ; plus bad inputs refused with a message naming the variable."""

import pytest
import yaml

from .conftest import ROOT, assert_refused, render

NS = "llm-gateway"


def config(tree):
    return yaml.safe_load(tree.one("ConfigMap", "litellm-config")["data"]["config.yaml"])


def container(tree, name):
    return tree.one("Deployment", name)["spec"]["template"]["spec"]["containers"][0]


@pytest.mark.parametrize("inventory, model, url, costs", [
    ("gke_l4", "qwen-coder", "http://10.128.0.50", (0.0000002, 0.0000006)),
    ("vast", "qwen-coder-7b", "http://llmaas-inference.llm-routing.svc.cluster.local", (0.0000004, 0.0000012)),
])
def test_model_list_is_generated_from_the_inventory(rendered, inventory, model, url, costs):
    entries = config(rendered[inventory])["model_list"]
    assert [e["model_name"] for e in entries] == [f"{model}-chat", f"{model}-fim", f"{model}-agent"]
    for entry in entries:
        params = entry["litellm_params"]
        assert params["api_base"] == f"{url}/{model}/v1"
        assert params["model"].startswith("hosted_vllm/qwen2.5-coder-")
        assert (params["input_cost_per_token"], params["output_cost_per_token"]) == costs


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_secrets_only_by_reference(rendered, inventory):
    tree = rendered[inventory]
    general = config(tree)["general_settings"]
    assert general["master_key"] == "os.environ/LITELLM_MASTER_KEY"
    env = {e["name"]: e for e in container(tree, "litellm")["env"]}
    assert env["LITELLM_MASTER_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "litellm-secrets",
                                                                       "key": "LITELLM_MASTER_KEY"}
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "litellm-postgres-app", "key": "uri"}
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"]["value"] == "True"
    assert env["LLMAAS_RETRY_AFTER_SECONDS"]["value"] == "30"
    plain = {"LITELLM_LOCAL_MODEL_COST_MAP", "LLMAAS_RETRY_AFTER_SECONDS"}  # settings, not secrets
    assert all("value" not in e for n, e in env.items() if n not in plain)
    store = tree.one("ExternalSecret", "litellm-secrets")["spec"]
    assert store["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "llmaas"}
    assert {d["remoteRef"]["key"] for d in store["data"]} == {"llmaas-litellm-master-key", "llmaas-litellm-salt-key"}
    assert not tree.objects(kind="Secret", layer="gateway")


def test_cost_versus_prod(rendered):
    cost, prod = rendered["gke_l4"], rendered["vast"]
    assert cost.one("Deployment", "litellm")["spec"]["replicas"] == 1
    assert prod.one("Deployment", "litellm")["spec"]["replicas"] == 2
    assert not cost.objects(kind="Deployment", name="litellm-redis")
    assert prod.one("Deployment", "litellm-redis")
    assert container(prod, "litellm-redis")["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "litellm-redis"
    assert cost.one("Cluster", "litellm-postgres")["spec"]["instances"] == 1
    assert cost.one("Cluster", "litellm-postgres")["spec"]["enablePDB"] is False
    assert prod.one("Cluster", "litellm-postgres")["spec"]["instances"] == 3
    assert prod.one("Cluster", "litellm-postgres")["spec"]["enablePDB"] is True
    # backups follow the backup destination, not the profile (test_no_backup_is_claimed_without_a_usable_target)
    assert not cost.objects(kind="ScheduledBackup")
    assert config(cost)["general_settings"]["fail_closed_budget_enforcement"] is False
    assert config(prod)["general_settings"]["fail_closed_budget_enforcement"] is True
    assert config(prod)["general_settings"]["coordination_redis"]["host"] == f"litellm-redis.{NS}.svc.cluster.local"
    assert prod.one("PodDisruptionBudget", "litellm")["spec"]["minAvailable"] == 1


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_probes_security_and_edge(rendered, inventory):
    tree = rendered[inventory]
    deployment = tree.one("Deployment", "litellm")
    pod = deployment["spec"]["template"]["spec"]
    main = pod["containers"][0]
    assert main["image"].startswith("ghcr.io/berriai/litellm-non_root:")
    assert main["livenessProbe"]["httpGet"]["path"] == "/health/liveliness"
    assert main["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert main["ports"] == [{"name": "http", "containerPort": 4000, "protocol": "TCP"}]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert main["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert set(main["resources"]) == {"requests", "limits"}
    assert tree.one("Service", "litellm")["spec"]["ports"][0]["port"] == 4000
    route = tree.one("HTTPRoute", "litellm")["spec"]
    assert [m["path"]["value"] for m in route["rules"][0]["matches"]] == ["/v1"]
    assert route["rules"][0]["backendRefs"] == [{"name": "litellm", "port": 4000}]
    assert "prometheus" in config(tree)["litellm_settings"]["callbacks"]


def test_config_change_rolls_the_pods(rendered):
    gke = rendered["gke_l4"].one("Deployment", "litellm")["spec"]["template"]["metadata"]["annotations"]
    vast = rendered["vast"].one("Deployment", "litellm")["spec"]["template"]["metadata"]["annotations"]
    assert gke["llmaas.platform/config-sha256"] != vast["llmaas.platform/config-sha256"]


@pytest.mark.parametrize("inventory, extra, message", [
    ("gke_l4", {"litellm_gateway_replicas": "0"}, "litellm_gateway_replicas"),
    ("gke_l4", {"litellm_gateway_replicas": "two"}, "litellm_gateway_replicas"),
    ("gke_l4", {"litellm_gateway_replicas": "2"}, "litellm_gateway_redis_enabled must be true"),
    ("gke_l4", {"litellm_gateway_postgres_backup_schedule": "0 3 * * *"}, "six cron fields"),
    ("gke_l4", {"litellm_gateway_postgres_storage_size": "5GB"}, "litellm_gateway_postgres_storage_size"),
    ("vast", {"litellm_gateway_budget_fail_closed": "false"}, "requires litellm_gateway_budget_fail_closed"),
    ("vast", {"litellm_gateway_allow_requests_on_db_unavailable": "true"},
     "litellm_gateway_allow_requests_on_db_unavailable false"),
    ("gke_l4", {"litellm_gateway_edge_enabled": "maybe"}, "litellm_gateway_edge_enabled"),
])
def test_bad_input_is_refused_before_the_layer_is_written(tmp_path, inventory, extra, message):
    assert_refused(render(inventory, tmp_path, extra_vars=extra), tmp_path, [message])


# --- Postgres backups ----------------------------------------------------------------------------------------------

def backup_problems(tree):
    """Reasons a rendered ScheduledBackup (or Cluster backup section) would not produce a usable backup.

    Usable: method barmanObjectStore on a Cluster whose barmanObjectStore names a bucket and credentials the stack
    provides (an ExternalSecret writing the referenced Secret keys, or GKE Workload Identity with the service
    account annotation). A volumeSnapshot backup needs a VolumeSnapshotClass, which k3s local-path does not have
    and the stack does not render, and archives no WAL.
    """
    problems = []
    synced = {(es["metadata"]["namespace"], (es["spec"].get("target") or {}).get("name") or es["metadata"]["name"]):
              {d["secretKey"] for d in es["spec"]["data"]} for es in tree.objects(kind="ExternalSecret")}
    clusters = {(c["metadata"]["namespace"], c["metadata"]["name"]): c for c in tree.objects(kind="Cluster")}
    for sb in tree.objects(kind="ScheduledBackup"):
        ns = sb["metadata"]["namespace"]
        cluster = clusters.get((ns, sb["spec"]["cluster"]["name"]))
        if cluster is None:
            problems.append(f"{sb['metadata']['name']}: no Cluster {sb['spec']['cluster']['name']}")
            continue
        method = sb["spec"].get("method", "barmanObjectStore")
        if method == "volumeSnapshot":
            if not tree.objects(kind="VolumeSnapshotClass"):
                problems.append(f"{sb['metadata']['name']}: volume snapshots without a VolumeSnapshotClass, no WAL")
            continue
        store = (cluster["spec"].get("backup") or {}).get("barmanObjectStore")
        if method != "barmanObjectStore" or not store or not store.get("destinationPath"):
            problems.append(f"{sb['metadata']['name']}: method {method} without an object store on the Cluster")
            continue
        if "googleCredentials" in store:
            annotations = ((cluster["spec"].get("serviceAccountTemplate") or {}).get("metadata") or {}).get(
                "annotations") or {}
            if not store["googleCredentials"].get("gkeEnvironment") or \
                    not annotations.get("iam.gke.io/gcp-service-account", "").endswith(".iam.gserviceaccount.com"):
                problems.append(f"{sb['metadata']['name']}: gs:// without a Workload Identity service account")
        else:
            for ref in (store.get("s3Credentials") or {}).values():
                if ref["key"] not in synced.get((ns, ref["name"]), set()):
                    problems.append(f"{sb['metadata']['name']}: credentials {ref['name']}[{ref['key']}] nobody writes")
            if not store.get("s3Credentials"):
                problems.append(f"{sb['metadata']['name']}: s3 store without credentials")
    for (ns, name), cluster in clusters.items():
        if (cluster["spec"].get("backup") or {}) and not tree.objects(kind="ScheduledBackup", namespace=ns):
            problems.append(f"{name}: a backup section but no ScheduledBackup")
    return problems


@pytest.mark.parametrize("inventory", ["gke_l4", "vast"])
def test_no_backup_is_claimed_without_a_usable_target(rendered, inventory):
    tree = rendered[inventory]
    assert backup_problems(tree) == []
    # neither inventory names an object store: no backup is rendered, so none is claimed
    assert not tree.objects(kind="ScheduledBackup")
    assert "backup" not in tree.one("Cluster", "litellm-postgres")["spec"]


def test_the_backup_check_refuses_volume_snapshots_without_a_class():
    """The old tree's form: volume snapshots on k3s local-path (no snapshot class) and no WAL archive."""
    fake = type("T", (), {})()
    objects = [
        {"kind": "Cluster", "metadata": {"name": "pg", "namespace": NS},
         "spec": {"backup": {"volumeSnapshot": {"online": True}}}},
        {"kind": "ScheduledBackup", "metadata": {"name": "pg-daily", "namespace": NS},
         "spec": {"method": "volumeSnapshot", "cluster": {"name": "pg"}}},
    ]
    fake.objects = lambda kind=None, namespace=None, **_: [
        o for o in objects if (kind is None or o["kind"] == kind)
        and (namespace is None or o["metadata"]["namespace"] == namespace)]
    assert backup_problems(fake) == ["pg-daily: volume snapshots without a VolumeSnapshotClass, no WAL"]


def _vast_secrets_with_backup_keys():
    from .security_helpers import load_inventory
    secrets = load_inventory("vast")["llmaas_secrets"]
    secrets["remote_keys"].update(postgres_backup_access_key_id="llmaas-postgres-backup-access-key-id",
                                  postgres_backup_secret_access_key="llmaas-postgres-backup-secret-access-key")
    return secrets


def test_an_s3_target_backs_up_with_wal_and_synced_keys(tmp_path):
    from .conftest import Tree
    extra = {"litellm_gateway_postgres_backup_destination": "s3://llmaas-backups/litellm",
             "litellm_gateway_postgres_backup_endpoint_url": "https://s3.example.com",
             "llmaas_secrets": _vast_secrets_with_backup_keys()}
    proc = render("vast", tmp_path, extra_vars=extra)
    assert proc.returncode == 0, proc.stdout[-3000:]
    tree = Tree(tmp_path)
    assert backup_problems(tree) == []
    (sb,) = tree.objects(kind="ScheduledBackup")
    assert sb["spec"]["method"] == "barmanObjectStore"
    store = tree.one("Cluster", "litellm-postgres")["spec"]["backup"]["barmanObjectStore"]
    assert store["destinationPath"] == "s3://llmaas-backups/litellm" and "wal" in store
    es = tree.one("ExternalSecret", "litellm-postgres-backup")
    assert {d["remoteRef"]["property"] for d in es["spec"]["data"]} == {"value"}
    _assert_schema_valid(tree)


def _assert_schema_valid(tree):
    """The backup objects against the pinned CloudNativePG and ESO CRDs (as tests/render/test_schemas.py does)."""
    from support.schemas import CRDIndex, crds_dir, validate_object
    version = yaml.safe_load((ROOT / "playbooks/vars/versions.yml").read_text())["llmaas_kubernetes_version"]
    crds = CRDIndex(crds_dir())
    errors = [e for kind in ("Cluster", "ScheduledBackup", "ExternalSecret") for obj in tree.objects(kind=kind)
              for e in validate_object(obj, crds, f"{version}.0")]
    assert errors == []


def test_a_gcs_target_uses_workload_identity(tmp_path):
    from .conftest import Tree
    extra = {"litellm_gateway_postgres_backup_destination": "gs://llmaas-backups/litellm",
             "litellm_gateway_postgres_backup_gcp_service_account":
                 "llmaas-postgres-backup@example-project.iam.gserviceaccount.com"}
    proc = render("gke_l4", tmp_path, extra_vars=extra)
    assert proc.returncode == 0, proc.stdout[-3000:]
    tree = Tree(tmp_path)
    assert backup_problems(tree) == []
    assert tree.objects(kind="ScheduledBackup")
    assert not [es for es in tree.objects(kind="ExternalSecret") if es["metadata"]["name"] == "litellm-postgres-backup"]
    _assert_schema_valid(tree)


@pytest.mark.parametrize("inventory, extra, message", [
    ("vast", {"litellm_gateway_postgres_backup_destination": "llmaas-backups"},
     "litellm_gateway_postgres_backup_destination"),
    ("vast", {"litellm_gateway_postgres_backup_destination": "s3://llmaas-backups"}, "postgres_backup_access_key_id"),
    ("gke_l4", {"litellm_gateway_postgres_backup_destination": "gs://llmaas-backups"},
     "litellm_gateway_postgres_backup_gcp_service_account"),
    ("vast", {"litellm_gateway_postgres_backup_enabled": True}, "litellm_gateway_postgres_backup_destination"),
])
def test_an_unusable_backup_target_is_refused(tmp_path, inventory, extra, message):
    assert_refused(render(inventory, tmp_path, extra_vars=extra), tmp_path, [message])


def test_switches_the_inventory_leaves_out_come_from_the_contract(tmp_path, rendered):
    """An inventory that does not list llmaas_features.guardrails gets the contract's default (true) in the gateway's
    guardrails too: its role defaults are computed from the completed switches, with no default of their own."""
    import shutil

    inventory = tmp_path / "inventory"
    shutil.copytree(ROOT / "inventories" / "gke_l4", inventory)
    platform = inventory / "group_vars" / "all" / "platform.yml"
    text = platform.read_text()
    assert "  guardrails: true\n" in text
    platform.write_text(text.replace("  guardrails: true\n", "", 1))
    proc = render(str(inventory), tmp_path / "tree")
    assert proc.returncode == 0, proc.stdout[-3000:]
    full = rendered["gke_l4"].path / "gateway"
    names = sorted(p.name for p in full.iterdir())
    assert sorted(p.name for p in (tmp_path / "tree" / "gateway").iterdir()) == names
    for name in names:
        assert (tmp_path / "tree" / "gateway" / name).read_bytes() == (full / name).read_bytes(), name
    assert config(rendered["gke_l4"])["guardrails"], "the gke_l4 gateway runs guardrails"
