// Command psa evaluates pod specs with the Pod Security admission library (k8s.io/pod-security-admission), the
// code kube-apiserver runs for the pod-security.kubernetes.io/enforce label. Input on stdin: a JSON list of
// {"name", "level", "template", "patch"}; template is a PodTemplateSpec, patch (optional) a strategic merge patch
// applied to it first, as controllers apply overlays. Output on stdout: a JSON list of
// {"name", "level", "allowed", "reasons", "pod"} (pod = the evaluated template after the patch).
package main

import (
	"encoding/json"
	"fmt"
	"os"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

type input struct {
	Name     string          `json:"name"`
	Level    string          `json:"level"`
	Template json.RawMessage `json:"template"`
	Patch    json.RawMessage `json:"patch,omitempty"`
}

type result struct {
	Name    string                 `json:"name"`
	Level   string                 `json:"level"`
	Allowed bool                   `json:"allowed"`
	Reasons []string               `json:"reasons"`
	Pod     corev1.PodTemplateSpec `json:"pod"`
}

func evaluate(ev policy.Evaluator, in input) (result, error) {
	raw := []byte(in.Template)
	if len(in.Patch) > 0 && string(in.Patch) != "null" {
		merged, err := strategicpatch.StrategicMergePatch(raw, in.Patch, corev1.PodTemplateSpec{})
		if err != nil {
			return result{}, fmt.Errorf("%s: strategic merge: %w", in.Name, err)
		}
		raw = merged
	}
	var tmpl corev1.PodTemplateSpec
	if err := json.Unmarshal(raw, &tmpl); err != nil {
		return result{}, fmt.Errorf("%s: pod template: %w", in.Name, err)
	}
	level, err := api.ParseLevel(in.Level)
	if err != nil {
		return result{}, fmt.Errorf("%s: %w", in.Name, err)
	}
	lv := api.LevelVersion{Level: level, Version: api.LatestVersion()}
	out := result{Name: in.Name, Level: in.Level, Allowed: true, Reasons: []string{}, Pod: tmpl}
	for _, r := range ev.EvaluatePod(lv, &tmpl.ObjectMeta, &tmpl.Spec) {
		if !r.Allowed {
			out.Allowed = false
			out.Reasons = append(out.Reasons, r.ForbiddenReason+": "+r.ForbiddenDetail)
		}
	}
	return out, nil
}

func main() {
	var inputs []input
	if err := json.NewDecoder(os.Stdin).Decode(&inputs); err != nil {
		fmt.Fprintln(os.Stderr, "psa: reading input:", err)
		os.Exit(2)
	}
	ev, err := policy.NewEvaluator(policy.DefaultChecks())
	if err != nil {
		fmt.Fprintln(os.Stderr, "psa:", err)
		os.Exit(2)
	}
	results := make([]result, 0, len(inputs))
	for _, in := range inputs {
		r, err := evaluate(ev, in)
		if err != nil {
			fmt.Fprintln(os.Stderr, "psa:", err)
			os.Exit(2)
		}
		results = append(results, r)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", " ")
	if err := enc.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, "psa:", err)
		os.Exit(2)
	}
}
