"""What teardown.yml reports it could not remove (plugins/filter/contract.py removal_errors).

The loop results have the shape kubernetes.core 6.2.0 gives with continue_on_error (plugins/module_utils/k8s/
runner.py run_module): one object -> the object's result is the module's result; several -> result.results in
definition order; a failed object carries `error` {msg, reason} instead of failing the module.
"""

from ansible_collections.llmaas.platform.plugins.filter.contract import removal_errors

SA = {"kind": "ServiceAccount", "metadata": {"name": "epp-metrics-reader"}}
TOKEN = {"kind": "Secret", "metadata": {"name": "epp-metrics-reader"}}
RULE = {"kind": "PrometheusRule", "metadata": {"name": "llmaas-slo"}}

DELETED = {"changed": True, "method": "delete", "result": {}}
# a controller removed it between the module's read and its delete (the token controller, after the ServiceAccount)
RACED = {"changed": False, "result": {}, "error": {
    "reason": "Not Found",
    "msg": 'Failed to delete object: b\'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"secrets '
           '\\"epp-metrics-reader\\" not found","reason":"NotFound","code":404}\''}}
NOT_SERVED = {"changed": False, "result": {}, "error": {
    "msg": "Failed to find exact match for monitoring.coreos.com/v1.PrometheusRule by [kind, name, singularName, "
           "shortNames]"}}
FORBIDDEN = {"changed": False, "result": {}, "error": {
    "reason": "Forbidden",
    "msg": 'Failed to delete object: b\'{"kind":"Status","reason":"Forbidden","code":403}\'\nsecond line'}}


def _layer(name, objects, results):
    if len(results) == 1:
        return {**results[0], "item": {"name": name, "objects": objects}}
    return {"changed": True, "result": {"results": results}, "item": {"name": name, "objects": objects}}


def test_objects_already_gone_or_not_served_are_not_errors():
    loop = [_layer("observability", [SA, TOKEN, RULE], [DELETED, RACED, NOT_SERVED]),
            _layer("routing", [RULE], [NOT_SERVED])]
    assert removal_errors(loop) == []


def test_a_refused_delete_names_layer_object_and_first_line():
    loop = [_layer("observability", [SA, TOKEN], [DELETED, FORBIDDEN]), _layer("gpu", [TOKEN], [FORBIDDEN])]
    assert removal_errors(loop) == [
        "observability: Secret/epp-metrics-reader: "
        "Failed to delete object: b'{\"kind\":\"Status\",\"reason\":\"Forbidden\",\"code\":403}'",
        "gpu: Secret/epp-metrics-reader: "
        "Failed to delete object: b'{\"kind\":\"Status\",\"reason\":\"Forbidden\",\"code\":403}'",
    ]


def test_a_timed_out_wait_is_an_error():
    timeout = {"changed": True, "result": {}, "error": {"msg": "Resource deletion timed out"}}
    assert removal_errors([_layer("gateway", [SA, TOKEN], [DELETED, timeout])]) == [
        "gateway: Secret/epp-metrics-reader: Resource deletion timed out"]
