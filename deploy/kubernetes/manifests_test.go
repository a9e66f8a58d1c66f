package kubernetes

import (
	"fmt"
	"maps"
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

// validated remembers the outcome of validate by configuration text,
// environment and target: most cases of TestBrokenManifestsAreRefused
// validate the same configuration with the same environments, and
// loading the policy packs takes a while.
var validated = map[string]error{}

// validate does what tousu validate -config path -target target does in a
// container with the environment environ: the strict decoding, the
// environment, the secrets, the checks, the targets and the policy packs.
// text is the file's content, for the memo.
func validate(path, text string, environ []string, target string) error {
	key := strings.Join(append([]string{text, target}, environ...), "\x00")
	if err, ok := validated[key]; ok {
		return err
	}
	cfg, err := app.Load(path, environ)
	if err == nil && target != "" {
		var targets []app.Target
		if targets, err = app.ParseTargets(target, cfg.Embedded()); err == nil {
			err = app.CheckTargets(&cfg, targets)
		}
	}
	if err == nil {
		packs := "packs\x00" + text // the packs depend on the file alone
		if _, ok := validated[packs]; !ok {
			_, validated[packs] = cfg.LoadPolicies(time.Now())
		}
		err = validated[packs]
	}
	validated[key] = err
	return err
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
			if err := validate(configPath, configText, environ(c), targetOf(c)); err != nil {
				add("Deployment %s: tousu validate -target %s with its environment: %v", d.Name, targetOf(c), err)
			}
		}
	}
	for _, j := range m.jobs {
		bad = append(bad, checkPod("Job "+j.Name, j.Spec.Template.Spec, false)...)
		for _, c := range j.Spec.Template.Spec.Containers {
			if err := validate(configPath, configText, environ(c), ""); err != nil {
				add("Job %s: tousu validate with its environment: %v", j.Name, err)
			}
		}
	}
	for _, what := range []string{"topics", "index"} {
		if !slices.ContainsFunc(m.jobs, func(j *batchv1.Job) bool {
			return slices.ContainsFunc(j.Spec.Template.Spec.Containers, func(c corev1.Container) bool {
				return len(c.Args) >= 2 && c.Args[0] == what && c.Args[1] == "apply"
			})
		}) {
			add("no Job runs tousu %s apply", what)
		}
	}
	claims := map[string]bool{}
	for _, t := range attachmentTargets {
		d := deployments["tousu-"+string(t)]
		if d == nil {
			continue // reported below
		}
		claim := attachmentClaim(d.Spec.Template.Spec)
		if claim == "" {
			add("Deployment %s: %s keeps attachments in DATA/attachments but mounts no claim there", d.Name, t)
		}
		claims[claim] = true
	}
	if len(claims) > 1 {
		add("the attachments are on different claims %v: the console would not find what the gateway and poller stored", slices.Sorted(maps.Keys(claims)))
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

// attachmentTargets are the targets that open the attachment store in
// DATA/attachments (services/app: the gateway and the poller store, the
// console serves), so they share one volume.
var attachmentTargets = []app.Target{app.TargetGateway, app.TargetPoller, app.TargetConsole}

// attachmentClaim returns the claim a pod mounts at its attachments
// directory, or "".
func attachmentClaim(spec corev1.PodSpec) string {
	for _, c := range spec.Containers {
		for _, vm := range c.VolumeMounts {
			if vm.MountPath != "/var/lib/tousu/attachments" {
				continue
			}
			for _, v := range spec.Volumes {
				if v.Name == vm.Name && v.PersistentVolumeClaim != nil {
					return v.PersistentVolumeClaim.ClaimName
				}
			}
		}
	}
	return ""
}

// cmp returns n, or def when n is 0.
func cmp(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}

// TestTargetInfos checks what the invariants rest on: the module graph's
// account of the targets that keep state and of the router's groups.
func TestTargetInfos(t *testing.T) {
	var single []string
	var router app.TargetInfo
	for _, info := range app.TargetInfos() {
		if info.Single && info.Name != app.TargetBroker {
			single = append(single, string(info.Name))
		}
		if info.Name == app.TargetRouter {
			router = info
		}
	}
	if want := []string{"poller", "escalator", "batcher", "sender"}; !slices.Equal(single, want) {
		t.Errorf("single-instance targets %v, want %v", single, want)
	}
	if got := router.Groups["tousu-router"]; !slices.Equal(got, []string{"complaints.normalized", "case.actions"}) {
		t.Errorf("the router's group reads %v", got)
	}
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

// replaceIn edits the first document of file holding old.
func replaceIn(file, old, new string) func(testing.TB, []doc) []doc {
	return func(tb testing.TB, docs []doc) []doc {
		tb.Helper()
		for i, d := range docs {
			if strings.Contains(d.source, file+"#") && strings.Contains(string(d.data), old) {
				docs[i].data = []byte(strings.Replace(string(d.data), old, new, 1))
				return docs
			}
		}
		tb.Fatalf("no document of %s holds %q", file, old)
		return nil
	}
}

// deployment returns the Deployment called name.
func deployment(tb testing.TB, m *manifests, name string) *appsv1.Deployment {
	tb.Helper()
	for _, d := range m.deployments {
		if d.Name == name {
			return d
		}
	}
	tb.Fatalf("no Deployment %s", name)
	return nil
}

// container returns the tousu container of the Deployment called name.
func container(tb testing.TB, m *manifests, name string) *corev1.Container {
	tb.Helper()
	return &deployment(tb, m, name).Spec.Template.Spec.Containers[0]
}

// withoutEnv removes the variable called name from c.
func withoutEnv(c *corev1.Container, name string) {
	c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == name })
}

// TestBrokenManifestsAreRefused breaks the manifests one way at a time and
// expects the decoding or the checks to name what broke.
func TestBrokenManifestsAreRefused(t *testing.T) {
	cases := []struct {
		name    string
		overlay string
		text    func(testing.TB, []doc) []doc
		obj     func(testing.TB, *manifests)
		want    string
	}{
		{name: "a misspelt field (strict decoding)", text: replaceIn("router.yaml", "livenessProbe:", "livenesProbe:"),
			want: `router.yaml#1: error unmarshaling JSON: while decoding JSON: json: unknown field "livenesProbe"`},
		{name: "a field of the wrong type", text: replaceIn("router.yaml", "replicas: 2", "replicas: zwei"),
			want: "router.yaml"},
		{name: "no liveness probe", obj: func(tb testing.TB, m *manifests) { container(tb, m, "tousu-router").LivenessProbe = nil },
			want: "Deployment tousu-router: container tousu has no liveness probe on /healthz"},
		{name: "readiness on /healthz", text: replaceIn("console.yaml", "path: /readyz", "path: /healthz"),
			want: "Deployment tousu-console: container tousu has no readiness probe on /readyz"},
		{name: "no CPU limit", obj: func(tb testing.TB, m *manifests) {
			delete(container(tb, m, "tousu-indexer").Resources.Limits, corev1.ResourceCPU)
		}, want: "Deployment tousu-indexer: container tousu has no cpu limit"},
		{name: "no memory request", obj: func(tb testing.TB, m *manifests) {
			delete(container(tb, m, "tousu-gateway").Resources.Requests, corev1.ResourceMemory)
		}, want: "Deployment tousu-gateway: container tousu has no memory request"},
		{name: "may run as root", text: replaceIn("normalizer.yaml", "runAsNonRoot: true", "runAsNonRoot: false"),
			want: "Deployment tousu-normalizer: container tousu may run as root"},
		{name: "runs as uid 0", text: replaceIn("normalizer.yaml", "runAsUser: 65532", "runAsUser: 0"),
			want: "Deployment tousu-normalizer: container tousu runs as uid 0"},
		{name: "writable root file system", text: replaceIn("gateway.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"),
			want: "Deployment tousu-gateway: container tousu has a writable root file system"},
		{name: "capabilities kept", text: replaceIn("sender.yaml", "drop: [ALL]", "drop: [NET_RAW]"),
			want: "Deployment tousu-sender: container tousu keeps capabilities"},
		{name: "no seccomp profile", text: replaceIn("alerts.yaml", "seccompProfile: {type: RuntimeDefault}", "seccompProfile: {type: Unconfined}"),
			want: "Deployment tousu-alerts: container tousu has no RuntimeDefault seccomp profile"},
		{name: "image latest", text: replaceIn("indexer.yaml", "tousu:1.0.0", "tousu:latest"),
			want: `Deployment tousu-indexer: container tousu image "registry.example.com/tousu/tousu:latest" is not pinned`},
		{name: "image without a tag", text: replaceIn("setup-job.yaml", "tousu:1.0.0", "tousu"),
			want: `Job tousu-setup: container topics image "registry.example.com/tousu/tousu" is not pinned`},
		{name: "a Kafka password inline", obj: func(tb testing.TB, m *manifests) {
			c := container(tb, m, "tousu-router")
			i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == app.EnvKafkaSASLPassword })
			c.Env[i] = corev1.EnvVar{Name: app.EnvKafkaSASLPassword, Value: "Tousu@2026!"}
		}, want: "Deployment tousu-router: container tousu: TOUSU_KAFKA_SASL_PASSWORD is a secret but not from a Secret"},
		{name: "the server secret from a ConfigMap", obj: func(tb testing.TB, m *manifests) {
			c := container(tb, m, "tousu-console")
			i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == app.EnvSecret })
			c.Env[i].ValueFrom = &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "tousu-config"}, Key: "server-secret"}}
		}, want: "Deployment tousu-console: container tousu: TOUSU_SECRET is a secret but not from a Secret"},
		{name: "a Secret applied with the manifests", text: func(_ testing.TB, docs []doc) []doc {
			return append(docs, doc{source: "secret.example.yaml#1", data: []byte("apiVersion: v1\nkind: Secret\nmetadata: {name: tousu-secrets}\nstringData: {server-secret: 生产环境密钥2026}\n")})
		}, want: "a Secret in the manifests"},
		{name: "an ES API key missing from the indexer", obj: func(tb testing.TB, m *manifests) {
			withoutEnv(container(tb, m, "tousu-indexer"), "TOUSU_ES_API_KEY")
		}, want: "Deployment tousu-indexer: tousu validate -target indexer with its environment: index.elasticsearch.api_key: the environment variable TOUSU_ES_API_KEY is not set"},
		{name: "no server secret on the gateway", obj: func(tb testing.TB, m *manifests) {
			withoutEnv(container(tb, m, "tousu-gateway"), app.EnvSecret)
		}, want: "Deployment tousu-gateway: tousu validate -target gateway"},
		{name: "an unknown key in tousu.yaml", text: replaceIn("configmap.yaml", "    heartbeat:", "    heartbeats:"),
			want: "heartbeats"},
		{name: "a bad value in tousu.yaml", text: replaceIn("configmap.yaml", "level: info", "level: 详细"),
			want: "log.level"},
		{name: "a target without its Deployment", obj: func(tb testing.TB, m *manifests) {
			container(tb, m, "tousu-alerts").Args[slices.Index(container(tb, m, "tousu-alerts").Args, "-target")+1] = "escalator"
		}, want: "target alerts: no Deployment tousu-alerts running -target alerts"},
		{name: "the console without the attachments", obj: func(tb testing.TB, m *manifests) {
			c := container(tb, m, "tousu-console")
			c.VolumeMounts = slices.DeleteFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool { return v.Name == "attachments" })
		}, want: "Deployment tousu-console: console keeps attachments in DATA/attachments but mounts no claim there"},
		{name: "the poller's attachments on its own volume", text: replaceIn("poller.yaml", "claimName: tousu-attachments", "claimName: tousu-poller-data"),
			want: "the attachments are on different claims [tousu-attachments tousu-poller-data]"},
		{name: "no topics Job", obj: func(_ testing.TB, m *manifests) { m.jobs = nil },
			want: "no Job runs tousu topics apply"},
		{name: "no index Job", text: replaceIn("setup-job.yaml", "args: [index, apply,", "args: [topics, apply,"),
			want: "no Job runs tousu index apply"},
		{name: "two escalators", text: replaceIn("escalator.yaml", "replicas: 1", "replicas: 2"),
			want: "Deployment tousu-escalator: escalator keeps state, so one replica with the Recreate strategy"},
		{name: "a poller rolled over", obj: func(tb testing.TB, m *manifests) {
			deployment(tb, m, "tousu-poller").Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType}
		}, want: "Deployment tousu-poller: poller keeps state, so one replica with the Recreate strategy"},
		{name: "the batcher autoscaled", overlay: "overlays/hpa", text: replaceIn("hpa.yaml", "name: tousu-alerts}", "name: tousu-batcher}"),
			want: "Deployment tousu-batcher: batcher keeps state but is scaled by HorizontalPodAutoscaler tousu-alerts"},
		{name: "KEDA past the partitions", text: replaceIn("scaledobjects.yaml", "maxReplicaCount: 6", "maxReplicaCount: 12"),
			want: "Deployment tousu-normalizer: up to 12 replicas, but its topics have 6 partitions"},
		{name: "HPA past the partitions", overlay: "overlays/hpa", text: replaceIn("hpa.yaml", "maxReplicas: 6", "maxReplicas: 8"),
			want: "Deployment tousu-normalizer: up to 8 replicas, but its topics have 6 partitions"},
		{name: "fewer partitions in the configuration", text: replaceIn("configmap.yaml", "partitions: 6", "partitions: 4"),
			want: "Deployment tousu-router: up to 6 replicas, but its topics have 4 partitions"},
		{name: "idle consumers allowed", text: replaceIn("scaledobjects.yaml", `allowIdleConsumers: "false"`, `allowIdleConsumers: "true"`),
			want: "ScaledObject tousu-normalizer: allowIdleConsumers lets replicas pass the partitions"},
		{name: "the router's lag on one topic only", obj: func(tb testing.TB, m *manifests) {
			for _, s := range m.scaled {
				if s.Metadata.Name == "tousu-router" {
					s.Spec.Triggers = s.Spec.Triggers[:1]
				}
			}
		}, want: "ScaledObject of tousu-router: no trigger on the lag of tousu-router on case.actions"},
		{name: "a trigger on a topic the target does not read", text: replaceIn("scaledobjects.yaml", "topic: cases", "topic: outbox"),
			want: "ScaledObject of tousu-indexer: trigger on outbox of tousu-indexer, which indexer does not read"},
		{name: "a Kafka password in a trigger", text: replaceIn("scaledobjects.yaml", "tls: enable", "tls: enable\n        password: kafka密码123"),
			want: "password in the trigger's metadata: take it from a Secret"},
		{name: "a consumer without an autoscaler", obj: func(_ testing.TB, m *manifests) { m.scaled = m.scaled[1:] },
			want: "Deployment tousu-normalizer: the consumer normalizer has no autoscaler"},
		{name: "an unknown field in a ScaledObject", text: replaceIn("scaledobjects.yaml", "cooldownPeriod:", "cooldownPeriode:"),
			want: `json: unknown field "cooldownPeriode"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			overlay := cmpString(tc.overlay, "overlays/keda")
			docs := render(t, overlay)
			if tc.text != nil {
				docs = tc.text(t, docs)
			}
			m, err := decode(docs)
			var problems []string
			if err != nil {
				problems = []string{err.Error()}
			} else {
				if tc.obj != nil {
					tc.obj(t, m)
				}
				problems = check(t, m)
			}
			got := strings.Join(problems, "\n")
			if !strings.Contains(got, tc.want) {
				t.Errorf("problems:\n%s\nwant one with %q", got, tc.want)
			}
		})
	}
}

// cmpString returns s, or def when s is empty.
func cmpString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
