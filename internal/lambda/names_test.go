package lambda

import (
	"errors"
	"testing"
)

var testLoc = Location{Region: "us-east-1", AccountID: "000000000000"}

func TestParseFunctionRef(t *testing.T) {
	tests := []struct {
		raw      string
		want     FunctionRef
		wantCode string
	}{
		{"my-fn", FunctionRef{Name: "my-fn"}, ""},
		{"my-fn:prod", FunctionRef{Name: "my-fn", Qualifier: "prod"}, ""},
		{"my-fn:$LATEST", FunctionRef{Name: "my-fn", Qualifier: "$LATEST"}, ""},
		{"000000000000:function:my-fn", FunctionRef{Name: "my-fn"}, ""},
		{"000000000000:function:my-fn:3", FunctionRef{Name: "my-fn", Qualifier: "3"}, ""},
		{"arn:aws:lambda:us-east-1:000000000000:function:my-fn", FunctionRef{Name: "my-fn"}, ""},
		{"arn:aws:lambda:us-east-1:000000000000:function:my-fn:$LATEST", FunctionRef{Name: "my-fn", Qualifier: "$LATEST"}, ""},
		{"arn:aws:lambda:eu-west-1:000000000000:function:my-fn", FunctionRef{}, CodeResourceNotFound},
		{"arn:aws:lambda:us-east-1:111111111111:function:my-fn", FunctionRef{}, CodeAccessDenied},
		{"111111111111:function:my-fn", FunctionRef{}, CodeAccessDenied},
		{"my-function!", FunctionRef{}, CodeValidation},
		{"", FunctionRef{}, CodeValidation},
		{"../etc/passwd", FunctionRef{}, CodeValidation},
		{"a:b:c", FunctionRef{}, CodeValidation},
		{"x1234567890123456789012345678901234567890123456789012345678901234", FunctionRef{}, CodeValidation},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := ParseFunctionRef(tt.raw, testLoc)
			if tt.wantCode != "" {
				le, ok := AsError(err)
				if !ok || le.Code != tt.wantCode {
					t.Fatalf("ParseFunctionRef(%q) error = %v, want code %s", tt.raw, err, tt.wantCode)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseFunctionRef(%q) = %+v, %v, want %+v", tt.raw, got, err, tt.want)
			}
		})
	}
}

func TestWithQualifier(t *testing.T) {
	ref := FunctionRef{Name: "f", Qualifier: "a"}
	if _, err := ref.WithQualifier("b"); err == nil {
		t.Fatal("WithQualifier with a conflicting qualifier succeeded")
	} else if le, _ := AsError(err); le.Code != CodeInvalidParameterValue {
		t.Fatalf("WithQualifier conflict = %v, want InvalidParameterValueException", err)
	}
	got, err := FunctionRef{Name: "f"}.WithQualifier("$LATEST")
	if err != nil || got.Qualifier != "$LATEST" {
		t.Fatalf("WithQualifier($LATEST) = %+v, %v", got, err)
	}
}

func FuzzParseFunctionRef(f *testing.F) {
	for _, s := range []string{"my-fn", "my-fn:1", "arn:aws:lambda:us-east-1:000000000000:function:f:$LATEST",
		"000000000000:function:f", "a:b:c:d:e", "arn:aws:lambda:::function:", "\x00", "f:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		ref, err := ParseFunctionRef(raw, testLoc)
		if err != nil {
			var le *Error
			if !errors.As(err, &le) || le.Status < 400 || le.Status > 499 {
				t.Fatalf("ParseFunctionRef(%q) error %v is not a client error", raw, err)
			}
			return
		}
		if !bareNameRE.MatchString(ref.Name) {
			t.Fatalf("ParseFunctionRef(%q) accepted name %q", raw, ref.Name)
		}
		if ref.Qualifier != "" && !qualifierRE.MatchString(ref.Qualifier) {
			t.Fatalf("ParseFunctionRef(%q) accepted qualifier %q", raw, ref.Qualifier)
		}
	})
}
