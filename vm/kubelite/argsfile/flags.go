package argsfile

import "strings"

// FlagValue returns the value the last occurrence of --name (or -name) has
// in args, as pflag would read it: --name=value, or --name value when the
// next argument is not a flag. Later occurrences win, as in pflag.
func FlagValue(args []string, name string) (value string, ok bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		n, v, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if n != name {
			continue
		}
		if !hasValue && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			v = args[i+1]
			i++
		}
		value, ok = v, true
	}
	return value, ok
}
