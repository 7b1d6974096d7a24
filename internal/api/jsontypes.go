package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// codeSerialization is what Lambda's front end answers a body it cannot read into the
// operation's input shape with: malformed JSON, or a member of the wrong JSON type.
const codeSerialization = "SerializationException"

func serializationError(msg string) error {
	return &lambda.Error{Code: codeSerialization, Status: http.StatusBadRequest, Message: msg}
}

// typeMismatch words a JSON value of the wrong type as AWS's JSON deserializer does
// ("STRING_VALUE can not be converted to an Integer", "Start of list found where not
// expected"), never naming a Go type. AWS names neither the member nor its path.
func typeMismatch(body []byte, te *json.UnmarshalTypeError) string {
	switch {
	case te.Value == "array":
		return "Start of list found where not expected"
	case te.Value == "object":
		return "Start of structure or map found where not expected."
	}
	// A scalar where a list, a map or a structure was expected.
	t := te.Type
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	kind := reflect.Invalid
	if t != nil {
		kind = t.Kind()
	}
	switch {
	case kind == reflect.Slice && t.Elem().Kind() != reflect.Uint8: // []byte is a Blob
		return "Expected list or null"
	case kind == reflect.Map:
		return "Expected map or null"
	case kind == reflect.Struct:
		return "Expected null"
	}
	token := "STRING_VALUE"
	switch {
	case strings.HasPrefix(te.Value, "number"):
		token = "NUMBER_VALUE"
	case te.Value == "bool":
		// The error says only "bool"; the value ends at Offset.
		token = "FALSE_VALUE"
		if off := int(te.Offset); off >= 4 && off <= len(body) && bytes.HasSuffix(body[:off], []byte("true")) {
			token = "TRUE_VALUE"
		}
	}
	target := "a String"
	switch kind {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		target = "an Integer"
	case reflect.Int64, reflect.Uint64:
		target = "a Long"
	case reflect.Float32, reflect.Float64:
		target = "a Double"
	case reflect.Bool:
		target = "a Boolean"
	case reflect.Slice:
		target = "a Blob"
	}
	return token + " can not be converted to " + target
}
