import pytest
import yaml

from ansible_collections.llmaas.platform.plugins.plugin_utils import manifests as m


def test_load_documents_skips_switched_off_documents_and_drops_nulls():
    text = "---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: n}\ndata: {x: null, y: '1'}\n"
    assert m.load_documents(text) == [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": "n"}, "data": {"y": "1"}}
    ]


@pytest.mark.parametrize("text, message", [
    ("kind: ConfigMap\nmetadata: {name: a}\n", "lacks apiVersion"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n", "lacks metadata.name"),
    ("- a\n- b\n", "must be a mapping"),
    ("apiVersion: v1\nkind: [\n", "not valid YAML"),
])
def test_load_documents_rejects_what_is_not_an_object(text, message):
    with pytest.raises(ValueError, match=message):
        m.load_documents(text, origin="t.yaml.j2")


def test_dump_is_block_style_with_literal_multiline_strings():
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"config.yaml": "a: 1\nb: 2\n"}}
    text = m.dump_documents([obj], "demo")
    assert text.startswith(m.HEADER_PREFIX)
    assert "config.yaml: |\n    a: 1\n    b: 2\n" in text
    assert yaml.safe_load_all(text).__next__() == obj


def test_apply_order_puts_dependencies_first_and_is_stable():
    kinds = ["HTTPRoute", "Deployment", "Namespace", "ConfigMap", "CustomResourceDefinition", "Widget", "Deployment"]
    objs = [{"kind": k, "metadata": {"name": str(i)}} for i, k in enumerate(kinds)]
    ordered = [(o["kind"], o["metadata"]["name"]) for o in m.apply_order(objs)]
    assert ordered == [("Namespace", "2"), ("CustomResourceDefinition", "4"), ("ConfigMap", "3"),
                       ("Deployment", "1"), ("Deployment", "6"), ("HTTPRoute", "0"), ("Widget", "5")]


def test_component_application_for_oci_chart_and_git_path():
    app = m.component_application({"name": "kueue", "namespace": "kueue-system", "repo": "oci://registry.k8s.io/kueue/charts",
                                   "chart": "kueue", "version": "0.19.2", "values": {"a": 1}}, "argocd", "llmaas")
    assert app["spec"]["source"] == {"repoURL": "registry.k8s.io/kueue/charts", "targetRevision": "0.19.2",
                                     "chart": "kueue", "helm": {"releaseName": "kueue", "valuesObject": {"a": 1}}}
    assert app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-1"
    git = m.component_application({"name": "gie-crds", "namespace": "x", "repo": "https://g/r.git",
                                   "path": "config/crd", "version": "v1.5.0"}, "argocd", "llmaas")
    assert git["spec"]["source"]["path"] == "config/crd"
    with pytest.raises(ValueError, match="chart or path"):
        m.component_application({"name": "x", "namespace": "x", "repo": "r", "version": "1"}, "argocd", "p")
    with pytest.raises(ValueError, match="lacks 'version'"):
        m.component_application({"name": "x", "namespace": "x", "repo": "r", "chart": "c"}, "argocd", "p")


def test_file_names_are_stable_and_namespaced_on_collision():
    obj = {"kind": "ServiceMonitor", "metadata": {"name": "vllm.qwen", "namespace": "monitoring"}}
    assert m.file_name(obj, with_namespace=False) == "servicemonitor-vllm-qwen.yaml"
    assert m.file_name(obj, with_namespace=True) == "servicemonitor-monitoring-vllm-qwen.yaml"
