package store

import (
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/nimbusfaas/nimbus/internal/lambda"
)

// TestCloneIsDeep fails when lambda.Function gains a map, slice or pointer field that clone
// does not copy, which would let a caller's edit leak into the shared Catalog.
func TestCloneIsDeep(t *testing.T) {
	var f lambda.Function
	v := reflect.ValueOf(&f).Elem()
	for i := range v.NumField() {
		fv := v.Field(i)
		switch fv.Kind() {
		case reflect.Map:
			fv.Set(reflect.MakeMap(fv.Type()))
			fv.SetMapIndex(reflect.New(fv.Type().Key()).Elem(), reflect.New(fv.Type().Elem()).Elem())
		case reflect.Slice:
			fv.Set(reflect.MakeSlice(fv.Type(), 1, 1))
		case reflect.Pointer:
			fv.Set(reflect.New(fv.Type().Elem()))
		case reflect.Interface, reflect.Chan, reflect.Func:
			t.Fatalf("Function.%s is a %s: teach clone about it", v.Type().Field(i).Name, fv.Kind())
		}
	}
	c := clone(&f)
	if diff := cmp.Diff(&f, c); diff != "" {
		t.Fatalf("clone differs (-orig +clone):\n%s", diff)
	}
	cv := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		switch v.Field(i).Kind() {
		case reflect.Map, reflect.Slice, reflect.Pointer:
			if v.Field(i).Pointer() == cv.Field(i).Pointer() {
				t.Errorf("clone shares Function.%s with the original", v.Type().Field(i).Name)
			}
		}
	}
}
