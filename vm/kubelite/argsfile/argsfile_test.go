package argsfile

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func env(vars map[string]string) Lookup {
	return SnapEnv(func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	})
}

// A file as microk8s writes it for the API server.
const apiserverFile = `# kube-apiserver, as in microk8s
--cert-dir=${SNAP_DATA}/certs
--service-cluster-ip-range=10.152.183.0/24

--secure-port=16443
--etcd-servers='unix://${SNAP_DATA}/var/kubernetes/backend/kine.sock:12379'
	--kubelet-preferred-address-types="InternalIP,Hostname"   # inline comment
--token-auth-file=$SNAP_DATA/credentials/known_tokens.csv
--audit-log-path=${SNAP_COMMON}/var/log/audit.log
`

func TestParseMicrok8sFile(t *testing.T) {
	got, err := Parse(strings.NewReader(apiserverFile), "kube-apiserver", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"--cert-dir=/var/snap/microk8s/current/certs",
		"--service-cluster-ip-range=10.152.183.0/24",
		"--secure-port=16443",
		"--etcd-servers=unix:///var/snap/microk8s/current/var/kubernetes/backend/kine.sock:12379",
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--token-auth-file=/var/snap/microk8s/current/credentials/known_tokens.csv",
		"--audit-log-path=/var/snap/microk8s/common/var/log/audit.log",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestParseCases(t *testing.T) {
	vars := map[string]string{"SNAP_DATA": "/tmp/snap data", "EMPTY": "", "X1": "one"}
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"empty file", "", []string{}},
		{"only comments and blanks", "# a\n   \n\t# b\n", []string{}},
		{"env overrides default, value not re-split", "--cert-dir=${SNAP_DATA}/certs", []string{"--cert-dir=/tmp/snap data/certs"}},
		{"default when unset", "--x=${SNAP_COMMON}", []string{"--x=/var/snap/microk8s/common"}},
		{"empty value is set", "--x=${EMPTY}y", []string{"--x=y"}},
		{"bare name stops at non-name byte", "--x=$X1/two", []string{"--x=one/two"}},
		{"digits in name", "--x=${X1}", []string{"--x=one"}},
		{"two words on a line", "--v 4", []string{"--v", "4"}},
		{"several flags, tabs", "--a=1\t--b=2  --c", []string{"--a=1", "--b=2", "--c"}},
		{"hash inside a word is kept", "--x=a#b", []string{"--x=a#b"}},
		{"hash after blank is a comment", "--x=a #b c", []string{"--x=a"}},
		{"quoted hash is kept", "--x='a #b'", []string{"--x=a #b"}},
		{"double quotes group blanks", `--x="a b"`, []string{"--x=a b"}},
		{"quotes in the middle", `--x=a'b c'd`, []string{"--x=ab cd"}},
		{"empty quotes", `--x='' ''`, []string{"--x=", ""}},
		{"other quote inside quotes", `--x="it's"`, []string{"--x=it's"}},
		{"expansion inside single quotes (as microk8s)", `'${X1}'`, []string{"one"}},
		{"lone dollar is literal", "--x=a$ $", []string{"--x=a$", "$"}},
		{"dollar before digit is literal", "--x=$1", []string{"--x=$1"}},
		{"backslash is literal", `--x=a\b`, []string{`--x=a\b`}},
		{"CRLF line endings", "--a=1\r\n--b=2\r\n", []string{"--a=1", "--b=2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(strings.NewReader(tc.in), "f", env(vars))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Parse(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"--a\n--x=${NOPE}/certs", "f:2: variable NOPE is not set"},
		{"--x=$NOPE", "f:1: variable NOPE is not set"},
		{"--x='abc", "f:1: unterminated ' quote"},
		{`--x="abc`, `f:1: unterminated " quote`},
		{"--x=${SNAP_DATA", "f:1: unterminated ${"},
		{"--x=${}", "f:1: bad variable name"},
		{"--x=${A-B}", "f:1: bad variable name"},
	} {
		_, err := Parse(strings.NewReader(tc.in), "f", env(nil))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error = %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "kubelet")
	if err := os.WriteFile(p, []byte("--kubeconfig=${SNAP_DATA}/credentials/kubelet.config\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(p, env(map[string]string{"SNAP_DATA": dir}))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"--kubeconfig=" + dir + "/credentials/kubelet.config"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), env(nil)); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing file: error = %v, want one naming the file", err)
	}
}

func TestExpand(t *testing.T) {
	got, err := Expand("${SNAP_DATA}/args/kubelet", env(nil))
	if err != nil || got != "/var/snap/microk8s/current/args/kubelet" {
		t.Errorf("Expand = %q, %v", got, err)
	}
	if _, err := Expand("$NOPE/x", env(nil)); err == nil {
		t.Error("Expand of an unset variable: no error")
	}
}
