package kubernetes

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/tousu/tousu/services/app"
	"github.com/tousu/tousu/services/bus"
)

// overlays are the kustomizations an operator applies.
var overlays = []string{"overlays/keda", "overlays/hpa"}

// kustomization is the part of kustomize's Kustomization these manifests
// use; any other key is an error, so that a patch or generator the
// renderer below does not apply cannot slip in.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace,omitempty"`
	Resources  []string `json:"resources"`
}

// scaledObject is KEDA's ScaledObject (keda.sh/v1alpha1), the fields these
// manifests use.
type scaledObject struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		ScaleTargetRef struct {
			Name string `json:"name"`
		} `json:"scaleTargetRef"`
		PollingInterval int           `json:"pollingInterval"`
		CooldownPeriod  int           `json:"cooldownPeriod"`
		MinReplicaCount int32         `json:"minReplicaCount"`
		MaxReplicaCount int32         `json:"maxReplicaCount"`
		Triggers        []kedaTrigger `json:"triggers"`
	} `json:"spec"`
}

// kedaTrigger is one trigger of a ScaledObject.
type kedaTrigger struct {
	Type              string `json:"type"`
	AuthenticationRef struct {
		Name string `json:"name"`
	} `json:"authenticationRef"`
	Metadata map[string]string `json:"metadata"`
}

// triggerAuthentication is KEDA's TriggerAuthentication, parameters from
// Secrets only.
type triggerAuthentication struct {
	metav1.TypeMeta `json:",inline"`
	Metadata        metav1.ObjectMeta `json:"metadata"`
	Spec            struct {
		SecretTargetRef []struct {
			Parameter string `json:"parameter"`
			Name      string `json:"name"`
			Key       string `json:"key"`
		} `json:"secretTargetRef"`
	} `json:"spec"`
}

// manifests is a rendered kustomization, decoded strictly.
type manifests struct {
	deployments []*appsv1.Deployment
	jobs        []*batchv1.Job
	configMaps  []*corev1.ConfigMap
	hpas        []*autoscalingv2.HorizontalPodAutoscaler
	scaled      []*scaledObject
	auths       []*triggerAuthentication
	pdbs        int
}

// doc is one YAML document of a manifest file.
type doc struct {
	source string
	data   []byte
}

// render reads the kustomization in dir and the resources it lists,
// recursively, as documents.
func render(tb testing.TB, dir string) []doc {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(data, &k); err != nil {
		tb.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	var out []doc
	for _, r := range k.Resources {
		path := filepath.Join(dir, r)
		if st, err := os.Stat(path); err == nil && st.IsDir() {
			out = append(out, render(tb, path)...)
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		for i, part := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(data), -1) {
			var probe map[string]any
			if err := yaml.Unmarshal([]byte(part), &probe); err != nil {
				tb.Fatalf("%s, document %d: %v", path, i+1, err)
			}
			if len(probe) > 0 {
				out = append(out, doc{source: fmt.Sprintf("%s#%d", path, i+1), data: []byte(part)})
			}
		}
	}
	return out
}

// decode decodes every document strictly into its official type (KEDA's
// into the structs above); an unknown kind, an unknown field or a Secret
// is an error.
func decode(docs []doc) (*manifests, error) {
	m := &manifests{}
	for _, d := range docs {
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(d.data, &meta); err != nil {
			return nil, fmt.Errorf("%s: %w", d.source, err)
		}
		var v any
		switch meta.APIVersion + " " + meta.Kind {
		case "apps/v1 Deployment":
			o := &appsv1.Deployment{}
			m.deployments, v = append(m.deployments, o), o
		case "batch/v1 Job":
			o := &batchv1.Job{}
			m.jobs, v = append(m.jobs, o), o
		case "v1 ConfigMap":
			o := &corev1.ConfigMap{}
			m.configMaps, v = append(m.configMaps, o), o
		case "autoscaling/v2 HorizontalPodAutoscaler":
			o := &autoscalingv2.HorizontalPodAutoscaler{}
			m.hpas, v = append(m.hpas, o), o
		case "keda.sh/v1alpha1 ScaledObject":
			o := &scaledObject{}
			m.scaled, v = append(m.scaled, o), o
		case "keda.sh/v1alpha1 TriggerAuthentication":
			o := &triggerAuthentication{}
			m.auths, v = append(m.auths, o), o
		case "v1 Service":
			v = &corev1.Service{}
		case "v1 ServiceAccount":
			v = &corev1.ServiceAccount{}
		case "v1 PersistentVolumeClaim":
			v = &corev1.PersistentVolumeClaim{}
		case "networking.k8s.io/v1 Ingress":
			v = &networkingv1.Ingress{}
		case "policy/v1 PodDisruptionBudget":
			v = &policyv1.PodDisruptionBudget{}
			m.pdbs++
		case "v1 Secret":
			return nil, fmt.Errorf("%s: a Secret in the manifests: secrets are created apart (secret.example.yaml), never applied from here", d.source)
		default:
			return nil, fmt.Errorf("%s: unexpected kind %s %s", d.source, meta.APIVersion, meta.Kind)
		}
		if err := yaml.UnmarshalStrict(d.data, v); err != nil {
			return nil, fmt.Errorf("%s: %w", d.source, err)
		}
	}
	return m, nil
}

// secretName matches the environment variables that hold a secret.
var secretName = regexp.MustCompile(`SECRET|PASSWORD|TOKEN|API_KEY|SMTP_URL|SASL_USERNAME`)

// pinned matches an image with a version tag or a digest.
var pinned = regexp.MustCompile(`^[a-z0-9.\-/:]+?(:v?[0-9]+\.[0-9]+\.[0-9]+[0-9A-Za-z.\-]*)?(@sha256:[0-9a-f]{64})?$`)

// imagePinned reports whether image names a version or a digest, never
// latest or no tag.
func imagePinned(image string) bool {
	m := pinned.FindStringSubmatch(image)
	return m != nil && (m[1] != "" || m[2] != "")
}

// environ returns what a container's environment holds at run time for
// the configuration: literal values, and a stand-in for each value from
// a Secret (at least 32 bytes, as the server secret needs; a URL for the
// SMTP sender, as secret.example.yaml shows one).
func environ(c corev1.Container) []string {
	var out []string
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			out = append(out, e.Name+"="+e.Value)
		case e.Name == app.EnvSMTPURL:
			out = append(out, e.Name+"=smtps://kefu:k8s-test-password@smtp.example.com:465?from=%E6%8A%95%E8%AF%89%E5%8F%97%E7%90%86%20%3Ccomplaints%40example.com%3E")
		case e.ValueFrom.SecretKeyRef != nil:
			out = append(out, e.Name+"=k8s-test-"+e.ValueFrom.SecretKeyRef.Key+"-0123456789abcdef0123456789abcdef")
		}
	}
	return out
}

// checkPod checks a pod template: non-root, read-only root file system,
// no capabilities, seccomp, limits, pinned images, secrets only from
// Secrets and (with probes) the health and readiness probes.
func checkPod(name string, spec corev1.PodSpec, probes bool) []string {
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, name+": "+fmt.Sprintf(format, args...)) }
	psc := spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	for _, c := range spec.Containers {
		sc := c.SecurityContext
		if sc == nil {
			sc = &corev1.SecurityContext{}
		}
		if !ptrTrue(sc.RunAsNonRoot) && !ptrTrue(psc.RunAsNonRoot) {
			add("container %s may run as root (runAsNonRoot)", c.Name)
		}
		if (sc.RunAsUser != nil && *sc.RunAsUser == 0) || (psc.RunAsUser != nil && *psc.RunAsUser == 0) {
			add("container %s runs as uid 0", c.Name)
		}
		if !ptrTrue(sc.ReadOnlyRootFilesystem) {
			add("container %s has a writable root file system (readOnlyRootFilesystem)", c.Name)
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			add("container %s allows privilege escalation", c.Name)
		}
		if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			add("container %s keeps capabilities (drop ALL, add none)", c.Name)
		}
		seccomp := psc.SeccompProfile
		if sc.SeccompProfile != nil {
			seccomp = sc.SeccompProfile
		}
		if seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault {
			add("container %s has no RuntimeDefault seccomp profile", c.Name)
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if q, ok := c.Resources.Limits[r]; !ok || q.IsZero() {
				add("container %s has no %s limit", c.Name, r)
			}
			if q, ok := c.Resources.Requests[r]; !ok || q.IsZero() {
				add("container %s has no %s request", c.Name, r)
			}
		}
		if !imagePinned(c.Image) {
			add("container %s image %q is not pinned to a version or digest", c.Name, c.Image)
		}
		for _, e := range c.Env {
			if secretName.MatchString(e.Name) && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
				add("container %s: %s is a secret but not from a Secret (secretKeyRef)", c.Name, e.Name)
			}
		}
		for _, e := range c.EnvFrom {
			if e.ConfigMapRef != nil {
				add("container %s takes its environment from a ConfigMap: name each variable", c.Name)
			}
		}
		if probes {
			if p := c.LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/healthz" {
				add("container %s has no liveness probe on /healthz", c.Name)
			}
			if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/readyz" {
				add("container %s has no readiness probe on /readyz", c.Name)
			}
		}
	}
	return bad
}

func ptrTrue(b *bool) bool { return b != nil && *b }

// targetOf returns the -target argument of a container.
func targetOf(c corev1.Container) string {
	if i := slices.Index(c.Args, "-target"); i >= 0 && i+1 < len(c.Args) {
		return c.Args[i+1]
	}
	return ""
}

// check returns every problem of a rendered overlay: the invariants of a
// tousu deployment (see the package comment and README.md).
func check(tb testing.TB, m *manifests) []string {
	tb.Helper()
	var bad []string
	add := func(format string, args ...any) { bad = append(bad, fmt.Sprintf(format, args...)) }

	// The configuration, as every target loads it.
	var configText string
	for _, cm := range m.configMaps {
		if cm.Name == "tousu-config" {
			configText = cm.Data["tousu.yaml"]
		}
	}
	if configText == "" {
		return append(bad, "no ConfigMap tousu-config with tousu.yaml")
	}
	configPath := filepath.Join(tb.TempDir(), "tousu.yaml")
	if err := os.WriteFile(configPath, []byte(configText), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfg, err := app.Load(configPath, nil)
	if err != nil && cfg.Bus.Partitions == 0 {
		return append(bad, fmt.Sprintf("tousu.yaml: %v", err))
	}
	specs, err := bus.LoadTopics(cfg.Bus)
	if err != nil {
		tb.Fatal(err)
	}
	partitions := map[string]int{}
	for _, s := range specs {
		partitions[s.Name] = cmp(s.Partitions, cfg.Bus.Partitions)
	}

	deployments := map[string]*appsv1.Deployment{}
	for _, d := range m.deployments {
		deployments[d.Name] = d
		bad = append(bad, checkPod("Deployment "+d.Name, d.Spec.Template.Spec, true)...)
		for _, c := range d.Spec.Template.Spec.Containers {
			target := targetOf(c)
			cfg, err := app.Load(configPath, environ(c))
			if err == nil {
				var targets []app.Target
				if targets, err = app.ParseTargets(target, cfg.Embedded()); err == nil {
					err = app.CheckTargets(&cfg, targets)
				}
			}
			if err == nil {
				_, err = cfg.LoadPolicies(time.Now())
			}
			if err != nil {
				add("Deployment %s: tousu validate -target %s with its environment: %v", d.Name, target, err)
			}
		}
	}
	for _, j := range m.jobs {
		bad = append(bad, checkPod("Job "+j.Name, j.Spec.Template.Spec, false)...)
		for _, c := range j.Spec.Template.Spec.Containers {
			if _, err := app.Load(configPath, environ(c)); err != nil {
				add("Job %s: tousu validate with its environment: %v", j.Name, err)
			}
		}
	}
	if !slices.ContainsFunc(m.jobs, func(j *batchv1.Job) bool {
		return slices.ContainsFunc(j.Spec.Template.Spec.Containers, func(c corev1.Container) bool {
			return len(c.Args) >= 2 && c.Args[0] == "topics" && c.Args[1] == "apply"
		})
	}) {
		add("no Job runs tousu topics apply")
	}
	if m.pdbs == 0 {
		add("no PodDisruptionBudget")
	}

	// Every target, and how it scales.
	scaledBy := map[string][]string{}
	maxOf := map[string]int32{}
	for _, h := range m.hpas {
		scaledBy[h.Spec.ScaleTargetRef.Name] = append(scaledBy[h.Spec.ScaleTargetRef.Name], "HorizontalPodAutoscaler "+h.Name)
		maxOf[h.Spec.ScaleTargetRef.Name] = h.Spec.MaxReplicas
	}
	auths := map[string]bool{}
	for _, a := range m.auths {
		auths[a.Metadata.Name] = true
	}
	covered := map[string]map[string]bool{} // deployment: group/topic
	for _, s := range m.scaled {
		name := s.Spec.ScaleTargetRef.Name
		scaledBy[name] = append(scaledBy[name], "ScaledObject "+s.Metadata.Name)
		maxOf[name] = s.Spec.MaxReplicaCount
		covered[name] = map[string]bool{}
		for _, t := range s.Spec.Triggers {
			if t.Type != "kafka" {
				add("ScaledObject %s: trigger %q is not kafka (consumer lag)", s.Metadata.Name, t.Type)
			}
			if t.Metadata["allowIdleConsumers"] == "true" {
				add("ScaledObject %s: allowIdleConsumers lets replicas pass the partitions", s.Metadata.Name)
			}
			for k := range t.Metadata {
				if k == "username" || k == "password" {
					add("ScaledObject %s: %s in the trigger's metadata: take it from a Secret (authenticationRef)", s.Metadata.Name, k)
				}
			}
			if !auths[t.AuthenticationRef.Name] {
				add("ScaledObject %s: authenticationRef %q names no TriggerAuthentication", s.Metadata.Name, t.AuthenticationRef.Name)
			}
			covered[name][t.Metadata["consumerGroup"]+"/"+t.Metadata["topic"]] = true
		}
	}
	for _, info := range app.TargetInfos() {
		if info.Name == app.TargetBroker {
			continue // Kafka stands in for the embedded broker
		}
		name := "tousu-" + string(info.Name)
		d := deployments[name]
		if d == nil || !slices.ContainsFunc(d.Spec.Template.Spec.Containers, func(c corev1.Container) bool { return targetOf(c) == string(info.Name) }) {
			add("target %s: no Deployment %s running -target %s", info.Name, name, info.Name)
			continue
		}
		if info.Single {
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				add("Deployment %s: %s keeps state, so one replica with the Recreate strategy", name, info.Name)
			}
			if len(scaledBy[name]) > 0 {
				add("Deployment %s: %s keeps state but is scaled by %s", name, info.Name, strings.Join(scaledBy[name], ", "))
			}
			continue
		}
		if len(scaledBy[name]) > 1 {
			add("Deployment %s: scaled twice (%s)", name, strings.Join(scaledBy[name], ", "))
		}
		if len(info.Groups) == 0 {
			continue
		}
		limit := 0
		for group, topics := range info.Groups {
			for _, topic := range topics {
				n, ok := partitions[topic]
				if !ok {
					add("target %s: topic %s is not in deploy/topics.yaml", info.Name, topic)
				}
				if limit == 0 || n < limit {
					limit = n
				}
				if c := covered[name]; c != nil && !c[group+"/"+topic] {
					add("ScaledObject of %s: no trigger on the lag of %s on %s", name, group, topic)
				}
			}
		}
		if len(scaledBy[name]) == 0 {
			add("Deployment %s: the consumer %s has no autoscaler", name, info.Name)
		} else if int(maxOf[name]) > limit {
			add("Deployment %s: up to %d replicas, but its topics have %d partitions", name, maxOf[name], limit)
		}
		for key := range covered[name] {
			group, topic, _ := strings.Cut(key, "/")
			if !slices.Contains(info.Groups[group], topic) {
				add("ScaledObject of %s: trigger on %s of %s, which %s does not read", name, topic, group, info.Name)
			}
		}
	}
	return bad
}

// cmp returns n, or def when n is 0.
func cmp(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

func TestOverlaysHoldTheInvariants(t *testing.T) {
	for _, overlay := range overlays {
		t.Run(overlay, func(t *testing.T) {
			m, err := decode(render(t, overlay))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range check(t, m) {
				t.Error(p)
			}
			if len(m.deployments) < 10 {
				t.Errorf("%d Deployments, want one per target", len(m.deployments))
			}
		})
	}
}
