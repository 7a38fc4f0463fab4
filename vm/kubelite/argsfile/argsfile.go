// Package argsfile reads microk8s-style component argument files, such as
// /var/snap/microk8s/current/args/kube-apiserver, into an argument list.
//
// Format, line by line:
//   - blank lines are skipped; a '#' that begins a word starts a comment that
//     runs to the end of the line (so a line starting with '#' is a comment,
//     while --x=a#b keeps its '#');
//   - a line holds one or more arguments separated by blanks (microk8s writes
//     one flag per line, but "--flag value" gives two arguments, as in microk8s);
//   - '...' and "..." group text, blanks included, into one argument and the
//     quotes are dropped: microk8s's files say --etcd-servers='https://...';
//   - $NAME and ${NAME} are expanded everywhere, inside quotes too (microk8s
//     expands every word), and the value is never split again. A variable that
//     is unset and has no default is an error, where microk8s would silently
//     substitute "" and start the component with a broken path;
//   - any other '$' is literal, and so is '\'.
package argsfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// Lookup returns the value of a variable and whether it is set.
type Lookup func(name string) (string, bool)

// SnapDefaults are the values microk8s's snap gives the variables its args
// files use, applied when the environment does not set them.
var SnapDefaults = map[string]string{
	"SNAP":        "/snap/microk8s/current",
	"SNAP_DATA":   "/var/snap/microk8s/current",
	"SNAP_COMMON": "/var/snap/microk8s/common",
}

// SnapEnv looks a variable up in the environment (getenv, e.g. os.LookupEnv),
// falling back to SnapDefaults. An empty value in the environment counts as set.
func SnapEnv(getenv Lookup) Lookup {
	return func(name string) (string, bool) {
		if v, ok := getenv(name); ok {
			return v, true
		}
		v, ok := SnapDefaults[name]
		return v, ok
	}
}

// ReadFile parses the args file at path.
func ReadFile(path string, lookup Lookup) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("args file: %w", err)
	}
	defer f.Close()
	return Parse(f, path, lookup)
}

// Parse reads an args file from r; name is used in error messages.
func Parse(r io.Reader, name string, lookup Lookup) ([]string, error) {
	args := []string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		words, err := splitLine(strings.TrimSuffix(sc.Text(), "\r"), lookup)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		args = append(args, words...)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return args, nil
}

// Expand expands $NAME and ${NAME} in s, with the same rules as in a file.
func Expand(s string, lookup Lookup) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		v, n, err := expandAt(s[i:], lookup)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		i += n
	}
	return b.String(), nil
}

func splitLine(line string, lookup Lookup) ([]string, error) {
	var (
		words  []string
		word   strings.Builder
		inWord bool // true once the current word has begun (even as '' only)
		quote  byte // the open quote, or 0
	)
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
			i++
		case quote == 0 && (c == '\'' || c == '"'):
			quote, inWord = c, true
			i++
		case quote == 0 && (c == ' ' || c == '\t'):
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
			i++
		case quote == 0 && !inWord && c == '#':
			i = len(line) // comment to the end of the line
		case c == '$':
			v, n, err := expandAt(line[i:], lookup)
			if err != nil {
				return nil, err
			}
			word.WriteString(v)
			inWord = true
			i += n
		default:
			word.WriteByte(c)
			inWord = true
			i++
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}

// expandAt expands the variable reference at the start of s (s[0] == '$') and
// returns its value and how many bytes it took. A '$' that starts no
// reference stands for itself.
func expandAt(s string, lookup Lookup) (string, int, error) {
	var name string
	var n int
	if strings.HasPrefix(s, "${") {
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", 0, fmt.Errorf("unterminated ${ in %q", s)
		}
		name, n = s[2:end], end+1
		if !validName(name) {
			return "", 0, fmt.Errorf("bad variable name %q", s[:n])
		}
	} else {
		j := 1
		for j < len(s) && isNameByte(s[j], j == 1) {
			j++
		}
		if j == 1 {
			return "$", 1, nil
		}
		name, n = s[1:j], j
	}
	v, ok := lookup(name)
	if !ok {
		return "", 0, fmt.Errorf("variable %s is not set", name)
	}
	return v, n, nil
}

func validName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isNameByte(name[i], i == 0) {
			return false
		}
	}
	return true
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || !first && c >= '0' && c <= '9'
}
