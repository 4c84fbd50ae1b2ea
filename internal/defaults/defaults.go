// Package defaults fills the unset fields of a server's configuration:
// WithDefaults is a list of Set calls, one a field.
package defaults

// Set sets *field to v if it holds its zero value.
func Set[T comparable](field *T, v T) {
	var zero T
	if *field == zero {
		*field = v
	}
}
