"""Watch one Deployment through a rolling update and report the fewest available replicas seen.

    python tests/controlplane/watch_rollout.py --kubeconfig K --namespace NS --name NAME --out report.json

Starts from the Deployment's current generation, follows every status change the API server sends (a watch, not
polling, so no dip is missed between samples) until a newer generation is fully rolled out, or --timeout passes.
Once it has read the starting point it writes <out>.started, so the caller changes the Deployment only after that
(a change made earlier would become the starting point and the watcher would wait for one more).
The report: {"generations": [from, to], "min_available": n, "events": count, "completed": bool}.
"""

import argparse
import json
import sys
import time

from kubernetes import client, config, watch


def rolled_out(dep, since):
    status, spec = dep.status, dep.spec
    return (dep.metadata.generation > since and (status.observed_generation or 0) >= dep.metadata.generation
            and (status.updated_replicas or 0) == spec.replicas == (status.available_replicas or 0)
            and (status.replicas or 0) == spec.replicas)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--kubeconfig", "--namespace", "--name", "--out"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--timeout", type=int, default=240)
    args = parser.parse_args(argv)

    config.load_kube_config(config_file=args.kubeconfig)
    apps = client.AppsV1Api()
    start = apps.read_namespaced_deployment(args.name, args.namespace)
    since = start.metadata.generation
    report = {"generations": [since, since], "min_available": start.status.available_replicas or 0,
              "events": 0, "completed": False}
    deadline = time.monotonic() + args.timeout
    with open(f"{args.out}.started", "w", encoding="utf-8") as started:
        json.dump({"generation": since}, started)
    while not report["completed"] and time.monotonic() < deadline:
        stream = watch.Watch().stream(apps.list_namespaced_deployment, args.namespace,
                                      field_selector=f"metadata.name={args.name}",
                                      resource_version=start.metadata.resource_version,
                                      timeout_seconds=max(1, int(deadline - time.monotonic())))
        for event in stream:
            dep = event["object"]
            start = dep
            report["events"] += 1
            report["generations"][1] = dep.metadata.generation
            report["min_available"] = min(report["min_available"], dep.status.available_replicas or 0)
            if rolled_out(dep, since):
                report["completed"] = True
                break
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(report, out)
    print(json.dumps(report))
    return 0 if report["completed"] else 1


if __name__ == "__main__":
    sys.exit(main())
