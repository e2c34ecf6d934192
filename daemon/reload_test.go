package daemon

import (
	"reflect"
	"slices"
	"testing"

	"github.com/podint/podint/daemon/config"
)

// Every setting is either applied on reload or named, by its flag, as
// needing a restart: a new Config field without a flag name fails here.
func TestEverySettingIsReloadedOrNamed(t *testing.T) {
	a := config.Default()
	ty := reflect.TypeOf(a)
	for i := range ty.NumField() {
		b := a
		f := reflect.ValueOf(&b).Elem().Field(i)
		switch f.Kind() {
		case reflect.String:
			f.SetString("changed")
		case reflect.Bool:
			f.SetBool(!f.Bool())
		case reflect.Int, reflect.Int64:
			f.SetInt(f.Int() + 1)
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{"changed"}))
		default:
			t.Fatalf("field %s of kind %s: extend this test", ty.Field(i).Name, f.Kind())
		}
		got := restartOnly(a, b)
		switch ty.Field(i).Name {
		case "Collectors", "ReportInterval", "LatencyQuantum", "LogLevel", "DropReasons":
			if len(got) != 0 {
				t.Errorf("%s is applied on reload, but reported as needing a restart: %v", ty.Field(i).Name, got)
			}
		default:
			if len(got) != 1 || got[0] == "" || slices.Contains(got, "") {
				t.Errorf("a change of %s is reported as %q; want its flag name", ty.Field(i).Name, got)
			}
		}
	}
}
