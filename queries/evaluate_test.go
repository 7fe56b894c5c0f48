package queries

import (
	"reflect"
	"testing"
)

func TestEvaluate(t *testing.T) {
	ok := map[string]string{"path": "/", "compliant": "1"}
	bad := map[string]string{"path": "/data", "compliant": "0"}
	odd := map[string]string{"path": "/odd", "compliant": "true"} // only "1" passes
	noCol := map[string]string{"path": "/x"}
	tests := []struct {
		name        string
		whenEmpty   Outcome
		rows        []map[string]string
		want        Outcome
		wantFailing []map[string]string
		wantReason  string
	}{
		{"no rows defaults to fail", "", nil, Fail, nil, "query returned no rows"},
		{"no rows uses when_empty", NotApplicable, []map[string]string{}, NotApplicable, nil, "query returned no rows"},
		{"no rows may pass", Pass, nil, Pass, nil, "query returned no rows"},
		{"all rows compliant", Fail, []map[string]string{ok, ok}, Pass, nil, "2 of 2 rows compliant"},
		{"one row not compliant", Fail, []map[string]string{ok, bad, ok}, Fail,
			[]map[string]string{bad}, "1 of 3 rows not compliant"},
		{"non-1 value is not compliant", Fail, []map[string]string{odd, bad}, Fail,
			[]map[string]string{odd, bad}, "2 of 2 rows not compliant"},
		{"missing compliant column fails", Pass, []map[string]string{noCol}, Fail,
			[]map[string]string{noCol}, `1 of 1 rows have no "compliant" column (the check's SQL must select one)`},
		{"missing column and non-compliant rows", Pass, []map[string]string{ok, noCol, bad}, Fail,
			[]map[string]string{noCol, bad}, `1 of 3 rows have no "compliant" column (the check's SQL must select one); 1 not compliant`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check{ID: "x", WhenEmpty: tt.whenEmpty}.Evaluate(tt.rows)
			want := Evaluation{Outcome: tt.want, Failing: tt.wantFailing, Reason: tt.wantReason}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}
