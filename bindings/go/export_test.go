package cachekit

// Hooks for the external tests (package cachekit_test).

func EncodeValueForTest(v any) ([]byte, error) { return encodeValue(v) }

func DecodeAnyForTest(b []byte) (any, error) {
	var v any
	err := decodeInto(b, &v)
	return v, err
}

func DecodeForTest[T any](b []byte) (T, error) {
	var v T
	err := decodeInto(b, &v)
	return v, err
}
