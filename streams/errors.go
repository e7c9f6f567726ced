package streams

import (
	"errors"

	"github.com/lsrflow/lsrflow/schemas"
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct {
	reason string
	err    error
}

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so that the runner dead-letters the input at once, with reason as the
// dead letter's short cause (a metrics label: keep the set of reasons small).
func Permanent(reason string, err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{reason: reason, err: err}
}

// IsPermanent reports whether err must not be retried: it was marked Permanent or is a
// schemas.DecodeError.
func IsPermanent(err error) bool {
	var pe *permanentError
	if errors.As(err, &pe) {
		return true
	}
	return schemas.ReasonOf(err) != ""
}

// ReasonOf returns the short dead-letter reason of err.
func ReasonOf(err error) string {
	var pe *permanentError
	if errors.As(err, &pe) {
		return pe.reason
	}
	if r := schemas.ReasonOf(err); r != "" {
		return r
	}
	return "error"
}
