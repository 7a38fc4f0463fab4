package argsfile

import "testing"

func TestFlagValue(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		name   string
		want   string
		wantOK bool
	}{
		{[]string{"--secure-port=16443"}, "secure-port", "16443", true},
		{[]string{"--secure-port", "16443"}, "secure-port", "16443", true},
		{[]string{"-secure-port=1"}, "secure-port", "1", true},
		{[]string{"--secure-port=1", "--secure-port=2"}, "secure-port", "2", true},
		{[]string{"--secure-port-x=1"}, "secure-port", "", false},
		{[]string{"--bind-address", "--secure-port=3"}, "bind-address", "", true},
		{[]string{"16443", "--v=2"}, "secure-port", "", false},
		{nil, "secure-port", "", false},
	} {
		got, ok := FlagValue(tc.args, tc.name)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("FlagValue(%q, %q) = %q, %v; want %q, %v", tc.args, tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}
