package compose

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/lsrflow/lsrflow/internal/testenv"
	"github.com/lsrflow/lsrflow/pipeline"
)

type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Profiles    []string          `yaml:"profiles"`
		Restart     string            `yaml:"restart"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		Deploy *struct {
			Replicas *int `yaml:"replicas"`
		} `yaml:"deploy"`
		Volumes []string `yaml:"volumes"` // docker-compose v1 prints SOURCE:TARGET[:MODE]
		Ports   []any    `yaml:"ports"`   // "IP:HOST:CONTAINER/tcp" with a host IP, else a map
		Build   *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
	} `yaml:"services"`
}

func dockerCompose(t *testing.T, root string, env []string, args ...string) []byte {
	t.Helper()
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Fatal("docker-compose not installed: run scripts/setup.sh apt")
	}
	cmd := exec.CommandContext(t.Context(), "docker-compose", append([]string{"-f", "docker-compose.yml"}, args...)...)
	cmd.Dir = root
	// A clean environment: the test must not depend on the caller's LSRFLOW_*/KAFKA_* settings.
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker-compose %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

func resolved(t *testing.T, root string, env ...string) composeFile {
	t.Helper()
	var cf composeFile
	if err := yaml.Unmarshal(dockerCompose(t, root, env, "--profile", "lm", "--profile", "embeddings", "--profile", "batch", "--profile", "train", "config"), &cf); err != nil {
		t.Fatal(err)
	}
	return cf
}

// TestComposeConfigValid is the done-when check.
func TestComposeConfigValid(t *testing.T) {
	root := testenv.RepoRoot(t)
	dockerCompose(t, root, nil, "config", "-q")
}

func TestComposeTopology(t *testing.T) {
	root := testenv.RepoRoot(t)
	cf := resolved(t, root)
	for _, name := range []string{"kafka", "vllm", "tei", "init", "retrieve", "teach", "sink-scored", "sink-dead-letters", "evaluate", "train", "ingest", "serve", "prometheus", "grafana"} {
		if _, ok := cf.Services[name]; !ok {
			t.Errorf("service %s missing", name)
		}
	}
	k := cf.Services["kafka"]
	if !strings.HasPrefix(k.Image, "apache/kafka:") || k.Environment["KAFKA_PROCESS_ROLES"] != "broker,controller" || k.Environment["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "" {
		t.Errorf("kafka is not a KRaft apache/kafka node: %s %v", k.Image, k.Environment)
	}
	if v := cf.Services["vllm"]; !strings.HasPrefix(v.Image, "vllm/vllm-openai:") || !slices.Contains(v.Command, "meta-llama/Meta-Llama-3-8B-Instruct") {
		t.Errorf("vllm: %s %v", v.Image, v.Command)
	}
	if tei := cf.Services["tei"]; !strings.Contains(tei.Image, "text-embeddings-inference") {
		t.Errorf("tei image %s", tei.Image)
	}
	// Scoring servers: no prefix caching on vLLM (stale prompt log-probabilities), TGI with
	// prefill log-probabilities, TEI's batch limit equal to httpembed's batch size (32).
	if slices.Contains(cf.Services["vllm"].Command, "--enable-prefix-caching") {
		t.Error("vllm starts with --enable-prefix-caching")
	}
	if tgi, ok := cf.Services["tgi"]; !ok || !slices.Contains(tgi.Command, "--enable-prefill-logprobs") {
		t.Errorf("tgi service without --enable-prefill-logprobs: %v", tgi.Command)
	}
	if cmd := strings.Join(cf.Services["tei"].Command, " "); !strings.Contains(cmd, "--max-client-batch-size 32") {
		t.Errorf("tei command %q: want --max-client-batch-size 32", cmd)
	}
	wantReplicas := map[string]int{"retrieve": 2, "teach": 3, "sink-scored": 1, "sink-dead-letters": 1, "evaluate": 1, "train": 1}
	for stage, n := range wantReplicas {
		s := cf.Services[stage]
		cmd := strings.Join(s.Command, " ")
		if !strings.HasPrefix(cmd, "run --config /tmp/lsrflow.yaml --stage "+stage+" --brokers kafka:9092") {
			t.Errorf("%s command %q", stage, cmd)
		}
		if s.Deploy == nil || s.Deploy.Replicas == nil || *s.Deploy.Replicas != n {
			t.Errorf("%s replicas %+v, want %d", stage, s.Deploy, n)
		}
		if s.Build == nil || s.Build.Dockerfile != "deploy/Dockerfile" {
			t.Errorf("%s does not build deploy/Dockerfile", stage)
		}
	}
	// serve: the token from a file init writes (never on the command line), the host port on
	// loopback unless LSRFLOW_SERVE_BIND says otherwise, ready when /readyz answers.
	serve := cf.Services["serve"]
	if cmd := strings.Join(serve.Command, " "); !strings.HasPrefix(cmd, "serve --config /tmp/lsrflow.yaml --brokers kafka:9092 --addr 0.0.0.0:8080 --token-file /data/ingest-token --max-body 1MiB --dedup-window 10m --inflight-memory 64MiB") || strings.Contains(cmd, "--token ") || strings.Contains(cmd, "--insecure") {
		t.Errorf("serve command %q", cmd)
	}
	if _, ok := cf.Services["init"].Environment["LSRFLOW_INGEST_TOKEN"]; !ok {
		t.Error("init takes no token from the environment")
	}
	if _, ok := serve.Environment["LSRFLOW_INGEST_TOKEN"]; ok {
		t.Error("serve's token is in its environment (docker inspect shows it); it belongs in the file")
	}
	if len(serve.Ports) != 1 || !strings.HasPrefix(fmt.Sprint(serve.Ports[0]), "127.0.0.1:8080:8080") {
		t.Errorf("serve ports %v, want the host port bound to 127.0.0.1", serve.Ports)
	}
	if hc := serve.Healthcheck; hc == nil || !strings.Contains(strings.Join(hc.Test, " "), "/readyz") {
		t.Errorf("serve health check %+v, want /readyz", hc)
	}
	init, err := os.ReadFile(filepath.Join(root, "deploy", "compose", "init.sh"))
	if err != nil || !strings.Contains(string(init), "/data/ingest-token") || !strings.Contains(string(init), "umask 077") {
		t.Errorf("init.sh does not write the token file owner-only: %v", err)
	}
	for name, s := range cf.Services {
		if s.Restart == "no" {
			continue // one-shot jobs
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) == 0 {
			t.Errorf("long-running service %s has no health check", name)
		}
	}
	// Every bind-mounted host file exists.
	for name, s := range cf.Services {
		for _, v := range s.Volumes {
			if src, _, _ := strings.Cut(v, ":"); strings.HasPrefix(src, "/") {
				if _, err := os.Stat(src); err != nil {
					t.Errorf("%s mounts %s: %v", name, src, err)
				}
			}
		}
	}
}

func TestComposeConfiguredByEnvironment(t *testing.T) {
	root := testenv.RepoRoot(t)
	cf := resolved(t, root, "TEACH_REPLICAS=5", "KAFKA_BOOTSTRAP=broker-a:9092,broker-b:9092", "LM_MODEL=Qwen/Qwen2.5-7B-Instruct", "LSRFLOW_DEDUP_WINDOW=30m", "LSRFLOW_SERVE_BIND=0.0.0.0")
	if r := cf.Services["teach"].Deploy.Replicas; r == nil || *r != 5 {
		t.Errorf("TEACH_REPLICAS=5: replicas %v", r)
	}
	if cmd := strings.Join(cf.Services["teach"].Command, " "); !strings.Contains(cmd, "--brokers broker-a:9092,broker-b:9092") {
		t.Errorf("KAFKA_BOOTSTRAP not applied: %q", cmd)
	}
	if !slices.Contains(cf.Services["vllm"].Command, "Qwen/Qwen2.5-7B-Instruct") || cf.Services["teach"].Environment["LM_MODEL"] != "Qwen/Qwen2.5-7B-Instruct" {
		t.Errorf("LM_MODEL not applied to vllm and teach")
	}
	if cmd := strings.Join(cf.Services["serve"].Command, " "); !strings.Contains(cmd, "--dedup-window 30m") {
		t.Errorf("LSRFLOW_DEDUP_WINDOW not applied: %q", cmd)
	}
	if p := cf.Services["serve"].Ports; len(p) != 1 || !strings.HasPrefix(fmt.Sprint(p[0]), "0.0.0.0:8080:8080") {
		t.Errorf("LSRFLOW_SERVE_BIND not applied: %v", p)
	}
}

// readEnvFile parses KEY=VALUE lines as docker-compose's env_file does (no quotes used here).
func readEnvFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: line %q is not KEY=VALUE", path, line)
		}
		env[k] = v
	}
	return env
}

// TestTopologyTemplateRenders renders the topology template as the entrypoint's envsubst does
// (unset variables become empty) with the env file's values and loads it with lsrflow's own
// config loader.
func TestTopologyTemplateRenders(t *testing.T) {
	root := testenv.RepoRoot(t)
	env := readEnvFile(t, filepath.Join(root, "deploy/compose/lsrflow.env"))
	env["KAFKA_BOOTSTRAP"] = "kafka:9092"
	env["LM_MODEL"] = "meta-llama/Meta-Llama-3-8B-Instruct"
	tmpl, err := os.ReadFile(filepath.Join(root, "deploy/compose/lsrflow.yaml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	used := regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`).FindAllStringSubmatch(string(tmpl), -1)
	for _, m := range used {
		if _, ok := env[m[1]]; !ok {
			t.Errorf("template uses ${%s}, which deploy/compose/lsrflow.env does not set", m[1])
		}
	}
	rendered := os.Expand(string(tmpl), func(k string) string { return env[k] })
	path := filepath.Join(t.TempDir(), "lsrflow.yaml")
	if err := os.WriteFile(path, []byte(rendered), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := pipeline.LoadConfig(path)
	if err != nil {
		t.Fatalf("rendered topology does not load: %v\n%s", err, rendered)
	}
	if c.Transport != "kafka" || len(c.Brokers) != 1 || c.Brokers[0] != "kafka:9092" || c.TopicPrefix != "lsrflow" || c.Partitions != 6 {
		t.Errorf("rendered topology: transport %s brokers %v prefix %q partitions %d", c.Transport, c.Brokers, c.TopicPrefix, c.Partitions)
	}
	if c.Teacher.Method != "answer-match" || c.Teacher.LM != "http://vllm:8000/v1" || c.RetrievalTopK != 20 {
		t.Errorf("rendered teacher/retrieval: %+v k=%d", c.Teacher, c.RetrievalTopK)
	}
	// With an LM teacher the same template carries the vLLM endpoint and model.
	env["LSRFLOW_TEACHER"] = "lsr"
	rendered = os.Expand(string(tmpl), func(k string) string { return env[k] })
	if err := os.WriteFile(path, []byte(rendered), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err = pipeline.LoadConfig(path); err != nil || c.Teacher.Method != "lsr" || c.Teacher.Model != env["LM_MODEL"] {
		t.Fatalf("lsr topology: %+v %v", c, err)
	}
	// The train variant: the same topology plus a train: section.
	ttmpl, err := os.ReadFile(filepath.Join(root, "deploy/compose/lsrflow-train.yaml.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(ttmpl[bytes.Index(ttmpl, []byte("dataset_path")):], tmpl[bytes.Index(tmpl, []byte("dataset_path")):]) {
		t.Error("lsrflow-train.yaml.tmpl drifted from lsrflow.yaml.tmpl (it must be the same plus a train: section)")
	}
	env["LSRFLOW_RETRIEVAL_METHOD"] = "dense" // the adapter refreshes a dense retriever
	env["LSRFLOW_INDEX_EMBEDDER"] = "openai:http://tei:80/v1"
	rendered = os.Expand(string(ttmpl), func(k string) string { return env[k] })
	if err := os.WriteFile(path, []byte(rendered), 0o644); err != nil {
		t.Fatal(err)
	}
	if c, err = pipeline.LoadConfig(path); err != nil || c.Train == nil || c.Train.EvalPath != env["LSRFLOW_TRAIN_EVAL"] || c.Train.Every != 256 {
		t.Fatalf("train topology: %+v %v\n%s", c, err, rendered)
	}
}

func TestScriptsAndDockerfile(t *testing.T) {
	root := testenv.RepoRoot(t)
	for _, s := range []string{"deploy/compose/entrypoint.sh", "deploy/compose/init.sh"} {
		out, err := exec.CommandContext(t.Context(), "sh", "-n", filepath.Join(root, s)).CombinedOutput()
		if err != nil {
			t.Errorf("sh -n %s: %v\n%s", s, err, out)
		}
		if st, err := os.Stat(filepath.Join(root, s)); err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("%s is not executable", s)
		}
	}
	df, err := os.ReadFile(filepath.Join(root, "deploy/Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	// Every file the Dockerfile copies from the build context exists.
	for _, m := range regexp.MustCompile(`(?m)^COPY (deploy/\S+|scripts/|go\.mod go\.sum)`).FindAllStringSubmatch(string(df), -1) {
		for _, src := range strings.Fields(m[1]) {
			if _, err := os.Stat(filepath.Join(root, src)); err != nil {
				t.Errorf("Dockerfile copies %s: %v", src, err)
			}
		}
	}
	for _, want := range []string{"ENTRYPOINT [\"lsrflow-entrypoint\"]", "scripts/setup.sh faiss", "go build"} {
		if !bytes.Contains(df, []byte(want)) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
}

// TestEntrypointRendersWithEnvsubst runs the real entrypoint (envsubst from gettext-base).
func TestEntrypointRendersWithEnvsubst(t *testing.T) {
	if _, err := exec.LookPath("envsubst"); err != nil {
		t.Fatal("envsubst not installed: apt-get install gettext-base (the lsrflow image's entrypoint uses it)")
	}
	root := testenv.RepoRoot(t)
	out := filepath.Join(t.TempDir(), "lsrflow.yaml")
	cmd := exec.CommandContext(t.Context(), "sh", filepath.Join(root, "deploy/compose/entrypoint.sh"), "sh", "-c", "cat \"$LSRFLOW_CONFIG\"")
	env := []string{"PATH=" + os.Getenv("PATH"), "LSRFLOW_CONFIG=" + out, "LSRFLOW_CONFIG_TEMPLATE=" + filepath.Join(root, "deploy/compose/lsrflow.yaml.tmpl"), "KAFKA_BOOTSTRAP=kafka:9092"}
	for k, v := range readEnvFile(t, filepath.Join(root, "deploy/compose/lsrflow.env")) {
		env = append(env, k+"="+v)
	}
	cmd.Env = env
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "brokers: [kafka:9092]") {
		t.Fatalf("entrypoint: %v\n%s", err, b)
	}
}
